"""Help that reads like a man page: word metavars (``QUERY...``, ``FILE``, ``N``) and examples.

Typer shows a parameter's Python type (``<int range>``, ``<list[str]>``, ``{queries}...``);
:func:`polish` gives every parameter of a command a word instead, and ends its ``--help`` with
the 2 or 3 real examples of :data:`EXAMPLES` (every one runs on the bundled sample or on files
it creates; ``tests/test_help.py`` parses each against the command). Applied once per command
by the root group (:class:`embviz.cli.app._EmbvizGroup`), so command modules need no change:
an explicit ``metavar=`` or ``epilog=`` on a command wins.
"""

from __future__ import annotations

from typing import Any

import typer.core

#: 2-3 real examples per command, by command path. Each line is a shell command line.
EXAMPLES: dict[str, list[str]] = {
    "info": [
        "embviz info",
        "embviz info -v vectors.txt.gz -f json",
    ],
    "lookup": [
        "embviz lookup king queen",
        "embviz lookup --ids 0 691 -f jsonl",
    ],
    "neighbors": [
        "embviz neighbors king -k 5",
        "printf 'paris\\nberlin\\n' | embviz neighbors - -k 2",
        "embviz neighbors -v items.parquet --meta movies.tsv --by title 'Toy Story (1995)'",
    ],
    "recommend": [
        "embviz recommend -v items.parquet --history ratings.parquet --exclude-seen -k 10",
        "embviz recommend 1 2 -v items.parquet --history ratings.parquet --meta movies.tsv --show title",
        "embviz recommend -v item_factors.parquet --users user_factors.parquet --metric dot -o recs.parquet",
    ],
    "analogy": [
        "embviz analogy man king woman -k 3",
        "embviz analogy man king woman --method cosmul",
    ],
    "similarity": [
        "embviz similarity coffee tea",
        "printf 'car\\tautomobile\\n' | embviz similarity -",
    ],
    "convert": [
        'embviz convert "$(embviz evaluate --dataset-path crime-and-punishment.vec)" cp.bin',
        "embviz convert cp.bin cp.npy",
        "embviz convert cp.bin projector/ --to projector",
    ],
    "project": [
        "embviz project --top 2000 --method pca -o points.tsv",
        "embviz project --around king -k 50 --method pca",
    ],
    "plot": [
        "embviz plot --top 2000 -o sample.html",
        "embviz plot --top 5000 --highlight king,paris --labels 100 -o sample.html",
        "embviz plot --x 'man - woman' --y 'king - queen' --top 2000 -o formula.html",
    ],
    "serve": [
        "embviz serve",
        "embviz serve -v glove.6B.300d.txt --method pca --top 20000 --port 8080",
        "embviz serve --host 0.0.0.0 --token SECRET",
    ],
    "train": [
        'embviz train "$(embviz evaluate --dataset-path lee_background.cor)" -o lee.bin --epochs 5',
        "embviz train corpus.txt -o vectors.bin --sg --vector-size 100 --workers 2",
        "embviz train --interactions ratings.parquet -o items.parquet --session-gap 30m --output-vectors ctx.parquet",
    ],
    "diff": [
        "embviz diff old.bin new.bin -k 10",
        "embviz diff old.bin new.bin --top 1000 --align orthogonal",
    ],
    "quality": [
        "embviz quality",
        "embviz quality -v vectors.bin --sample 2000 -f json",
    ],
    "cache list": ["embviz cache list", "embviz cache list -f json"],
    "cache verify": ["embviz cache verify", "embviz cache verify --cache-dir /tmp/embviz-cache"],
    "cache clear": ["embviz cache clear", "embviz cache clear --cache-dir /tmp/embviz-cache"],
    "cache dir": ["embviz cache dir", "EMBVIZ_CACHE_DIR=/tmp/c embviz cache dir"],
    "index build": [
        "embviz index build",
        "embviz index build -v vectors.bin --method ivf --nlist 1024",
    ],
    "index info": ["embviz index info", "embviz index info -v vectors.bin -f json"],
    "index list": ["embviz index list", "embviz index list -f json"],
    "index rm": ["embviz index rm", "embviz index rm -v vectors.bin --method hnsw"],
    "index eval": [
        "embviz index eval -v glove-25-angular.hdf5 --tensor train --queries test --truth neighbors",
        "embviz index eval -v glove-25-angular.hdf5 --tensor train --queries test --truth neighbors -k 100 "
        "--ef-search 256",
        "embviz index eval -v vectors.bin --queries held_out.npy -f json",
    ],
    "evaluate analogies": [
        "embviz evaluate analogies | tail -1",
        "embviz evaluate analogies --method cosmul --restrict 30000",
    ],
    "evaluate similarity": [
        "embviz evaluate similarity",
        'embviz evaluate similarity "$(embviz evaluate --dataset-path simlex999.txt)"',
    ],
    "evaluate next-item": [
        "embviz evaluate next-item -v items.parquet --interactions ratings.parquet -k 10,20",
        "embviz evaluate next-item -v als_items.parquet --interactions ratings.parquet --metric dot",
    ],
}

#: Words for arguments whose name alone does not say it.
_ARGUMENTS = {
    ("lookup", "items"): "KEY_OR_ID",
    ("analogy", "words"): "WORD",
    ("convert", "source"): "SOURCE",
    ("convert", "target"): "TARGET",
    ("diff", "a"): "A",
    ("diff", "b"): "B",
    ("evaluate similarity", "pairs"): "FILE",
}


def _word(name: str) -> str:
    """Return the word of a name: ``queries`` -> ``QUERY``, ``key_column`` -> ``COLUMN``."""
    word = name.strip("-").replace("-", "_").split("_")[-1].upper()
    if word.endswith("IES"):
        return word[:-3] + "Y"
    return word[:-1] if word.endswith("S") and not word.endswith("SS") else word


def _base(annotation: Any) -> Any:
    """``int | None`` -> ``int``; ``list[int]`` -> ``int``."""
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return _base(args[0]) if len(args) == 1 else annotation


def _option_word(param: Any) -> str | None:
    """Return the metavar of an option from its type: ``N``, ``X``, ``FILE``, ``DIR``, choices."""
    long = max(param.opts, key=len)
    kind, choices = _kind(param)
    if kind == "choice":
        words = [str(getattr(c, "value", c)) for c in choices or ()]
        return "|".join(words) if len(words) <= 6 else _word(long)
    if kind == "int":
        return "N"
    if kind == "float":
        return "X"
    if kind == "path":
        return "DIR" if any(w in long for w in ("dir", "folder")) else "FILE"
    return _OPTIONS.get(long) or long.strip("-").replace("-", "_").split("_")[-1].upper()


def _kind(param: Any) -> tuple[str, Any]:
    """``("choice", choices)``, ``("int", None)``, ``("float", None)``, ``("path", None)`` or ``("", None)``.

    typer 0.29 describes a parameter's annotation (``type_descriptor``); older releases give it
    a click type (``param.type``), which the pinned range (below 0.29) uses.
    """
    desc = getattr(param, "type_descriptor", None)
    if desc is not None:
        if desc.is_choice:
            return "choice", desc.choices
        annotation = _base(desc.annotation)
        kind = "int" if annotation is int else "float" if annotation is float else "path" if desc.is_path else ""
        return kind, None
    ptype = param.type  # click's types (vendored by typer as typer._click), typer's TyperChoice / TyperPath
    names = {c.__name__ for c in type(ptype).__mro__}
    if getattr(ptype, "choices", None) is not None:
        return "choice", ptype.choices
    if "IntParamType" in names:
        return "int", None
    if "FloatParamType" in names:
        return "float", None
    return ("path", None) if names & {"TyperPath", "Path"} else ("", None)


#: Words for text options whose name alone does not say what they take.
_OPTIONS = {
    "--around": "KEY",
    "--highlight": "KEY,...",
    "--x": "FORMULA",
    "--y": "FORMULA",
    "--z": "FORMULA",
    "--color-by": "COLUMN",
    "--tensor": "NAME",
    "--master": "URL",
    "--to": "FORMAT",
    "--errors": "FILE",
    "--queries": "NAME",
    "--truth": "NAME",
}


class _Argument(typer.core.TyperArgument):
    """An argument shown as its word: ``QUERY...`` in the usage line and in the list."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _rich_display_name(self) -> str:
        return self.metavar + ("..." if self.nargs != 1 else "")

    def _usage_display_name(self) -> str:
        name = self._rich_display_name()
        return name if self.required else f"[{name}]"

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        return [self._usage_display_name()]


class _Option(typer.core.TyperOption):
    """An option shown with its word: ``-k, --k N``, ``-o, --output FILE``."""

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        return self.metavar + ("..." if self.nargs != 1 else "")


def polish(command: Any, path: str) -> None:
    """Give `command` (and its subcommands) word metavars and their examples, once, in place."""
    if getattr(command, "_embviz_polished", False):
        return
    command._embviz_polished = True
    for name, sub in getattr(command, "commands", {}).items():
        polish(sub, f"{path} {name}".strip())
    for param in command.params:
        if isinstance(param, typer.core.TyperArgument) and type(param) is typer.core.TyperArgument:
            if param.metavar is None:
                param.metavar = _ARGUMENTS.get((path, param.name)) or (
                    "FILE" if _kind(param)[0] == "path" else _word(param.name)
                )
            param.__class__ = _Argument
        elif isinstance(param, typer.core.TyperOption) and type(param) is typer.core.TyperOption:
            if param.metavar is None and not (param.is_flag or param.count):
                param.metavar = _option_word(param)
            param.__class__ = _Option
    examples = EXAMPLES.get(path)
    if examples and not command.epilog:
        # "\b" keeps click from re-wrapping the lines of the paragraph that follows it
        command.epilog = "Examples:\n\n\b\n" + "\n".join(f"  {e}" for e in examples)
