"""PyTorch ``.pt`` files read with real torch (``embviz[torch]``, in the ``test`` extra).

The files are written by torch itself (``torch.save``): an ``nn.Embedding``'s state dict, a
model with several 2-D weights, bfloat16/float16 tensors, the legacy non-zip serialization,
and pickles that run code. embviz never unpickles a ``.pt`` itself; it calls
``torch.load(map_location="cpu", weights_only=True)``, so a pickle that names any global
outside torch's allow-list (``os.system``) is refused by torch and its code never runs
(issue 25). The values read must be torch's own, bit for bit, through the cache too.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embviz.cli import app
from embviz.errors import EmbvizError, FormatError
from embviz.io import load

torch = pytest.importorskip("torch")


def ld(path: Path, **kw):
    return load(path, cache=False, **kw)


class _RunsCode:
    """Unpickling this object runs ``touch MARKER`` (what a malicious checkpoint does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def emb(tmp_path_factory) -> tuple[Path, object]:
    """An nn.Embedding(50, 8, padding_idx=0) saved by torch: (path, its weight as float32 numpy)."""
    torch.manual_seed(0)
    e = torch.nn.Embedding(50, 8, padding_idx=0)
    p = tmp_path_factory.mktemp("pt") / "emb.pt"
    torch.save(e.state_dict(), p)
    return p, e.weight.detach().numpy().copy()


def test_embedding_state_dict_gives_torch_s_weights(emb, tmp_path) -> None:
    path, weight = emb
    v = ld(path)
    assert (v.count, v.dim, v.matrix.dtype) == (50, 8, np.float32)
    assert v.keys[:3] == ["0", "1", "2"]  # no keys file: row ids
    np.testing.assert_array_equal(v.matrix, weight)
    assert not v.matrix[0].any()  # padding_idx 0: torch zeroes that row
    cached = load(path, cache_dir=tmp_path / "c")  # writes the entry
    again = load(path, cache_dir=tmp_path / "c")  # maps it
    np.testing.assert_array_equal(cached.matrix, weight)
    np.testing.assert_array_equal(again.matrix, weight)


def test_a_model_with_several_weights_needs_tensor(tmp_path) -> None:
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Embedding(30, 4), torch.nn.Linear(4, 6))
    p = tmp_path / "model.pt"
    torch.save(model.state_dict(), p)
    with pytest.raises(FormatError) as exc:
        ld(p)
    assert str(exc.value) == (f"{p}: several 2-D arrays fit: 0.weight [30, 4], 1.weight [6, 4]; "
                              "pick one with --tensor NAME")
    v = ld(p, tensor="0.weight")
    np.testing.assert_array_equal(v.matrix, model[0].weight.detach().numpy())
    result = CliRunner().invoke(app, ["info", "-v", str(p), "--no-cache", "--tensor", "1.weight", "-f", "tsv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split("\t")[1:5] == ["torch", "none", "6", "4"]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float64"])
def test_other_float_dtypes_are_converted_as_torch_converts_them(tmp_path, dtype) -> None:
    torch.manual_seed(2)
    t = torch.randn(20, 5).to(getattr(torch, dtype))
    p = tmp_path / f"{dtype}.pt"
    torch.save({"emb": t}, p)
    np.testing.assert_array_equal(ld(p).matrix, t.to(torch.float32).numpy())


def test_a_bare_tensor_and_the_legacy_format(emb, tmp_path) -> None:
    path, weight = emb
    bare = tmp_path / "bare.pt"
    torch.save(torch.from_numpy(weight), bare)
    np.testing.assert_array_equal(ld(bare).matrix, weight)
    legacy = tmp_path / "legacy.pt"  # torch < 1.6's pickle stream, no zip
    torch.save({"weight": torch.from_numpy(weight)}, legacy, _use_new_zipfile_serialization=False)
    np.testing.assert_array_equal(ld(legacy).matrix, weight)


@pytest.mark.parametrize("legacy", [False, True])
def test_a_checkpoint_whose_pickle_runs_code_is_refused_by_torch(tmp_path, legacy) -> None:
    """torch.save of a real checkpoint carrying os.system: one line, exit 1, the code never runs."""
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(4, 3), "extra": _RunsCode(marker)}, p,
               _use_new_zipfile_serialization=not legacy)
    with pytest.raises(FormatError) as exc:
        ld(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}: torch.load(weights_only=True) refused it: UnpicklingError: ")
    assert "\n" not in msg and len(msg) < 600
    result = CliRunner().invoke(app, ["info", "-v", str(p), "--no-cache"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [f"embviz: error: {msg}"]
    assert not marker.exists()


def test_a_file_that_is_not_a_state_dict(tmp_path) -> None:
    p = tmp_path / "list.pt"
    torch.save([torch.zeros(3, 2)], p)
    with pytest.raises(FormatError, match=r"list.pt: holds a list, expected a state dict of tensors$"):
        ld(p)
    q = tmp_path / "vector.pt"
    torch.save({"bias": torch.zeros(7)}, q)
    with pytest.raises(FormatError, match="no 2-D floating array"):
        ld(q)


def test_truncated_and_mutated_checkpoints_are_one_line_or_loaded(emb, tmp_path) -> None:
    """500 damaged copies of a real checkpoint: each loads or is refused in one line, never an internal error.

    torch stores no checksum of the tensor bytes, so a flip inside them changes values without a
    word (as in a .npy); everything else (the zip directory, the pickle) is refused by torch.
    """
    path, weight = emb
    raw = path.read_bytes()
    rng = random.Random(0)
    loaded = refused = 0
    for i in range(500):
        data = bytearray(raw)
        kind = i % 4
        if kind == 0:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(1 + kind * 2):
                at = rng.randrange(len(data))
                data[at] = rng.randrange(256)
        p = tmp_path / f"m{i}.pt"
        p.write_bytes(bytes(data))
        try:
            v = ld(p)
        except EmbvizError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(f"{p}: "), str(exc)
            refused += 1
        else:
            assert v.matrix.shape == weight.shape
            loaded += 1
        p.unlink()
    assert loaded + refused == 500 and refused > 100
