"""Metadata tables (embviz.io.meta): TSV, CSV, RecBole, Parquet, Arrow/Feather; align and find.

Every file is written by hand (text) or by pyarrow (Parquet, Feather) with values chosen so
that a wrong quoting mode, a float-formatted id or a vector column read as metadata shows as
a different value.
"""

from __future__ import annotations

import bz2
import gzip
import warnings

import numpy as np
import pytest

from embviz.errors import EmbvizWarning, FormatError, InvalidQuery
from embviz.io.meta import MAX_PATTERN, Meta, read_meta, split_values

MOVIES_TSV = (
    "item_id\ttitle\tgenres\n"
    "1\tToy Story (1995)\tAnimation|Children's|Comedy\n"
    '2\t"Jumanji", the game\tAdventure\n'
    "3\tGrumpier Old Men, The (1995)\t\n"
    "007\tGoldenEye (1995)\tAction|Thriller\n"
)


def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def no_warnings(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kw)


@pytest.fixture()
def movies(tmp_path) -> Meta:
    return no_warnings(read_meta, write(tmp_path / "movies.tsv", MOVIES_TSV))


# -- text -----------------------------------------------------------------------------------


def test_tsv_keeps_quotes_and_commas_as_written(movies):
    assert movies.key_column == "item_id"
    assert movies.columns == ("title", "genres")
    assert movies.keys == ("1", "2", "3", "007")
    assert movies.values == {
        "title": ["Toy Story (1995)", '"Jumanji", the game', "Grumpier Old Men, The (1995)", "GoldenEye (1995)"],
        "genres": ["Animation|Children's|Comedy", "Adventure", None, "Action|Thriller"],
    }


def test_repr_names_the_table_not_its_rows(movies):
    assert repr(movies).endswith("key_column='item_id', columns=('title', 'genres'))")


def test_csv_quoting_as_the_csv_module_writes_it(tmp_path):
    path = write(tmp_path / "movies.csv",
                 'movieId,title,genres\n'
                 '1,"Lion King, The (1994)",Animation|Musical\n'
                 '2,"Say ""Anything"" (1989)",\n'
                 '3, spaced ,Drama\n')
    meta = no_warnings(read_meta, path)
    assert meta.keys == ("1", "2", "3")
    assert meta.values == {
        "title": ["Lion King, The (1994)", 'Say "Anything" (1989)', " spaced "],
        "genres": ["Animation|Musical", None, "Drama"],
    }


def test_crlf_lines_lose_only_the_carriage_return(tmp_path):
    path = write(tmp_path / "m.tsv", "id\tt\r\n 1\tx \r\n2\ty\r\n")
    meta = no_warnings(read_meta, path)
    assert meta.keys == (" 1", "2")
    assert meta.values == {"t": ["x ", "y"]}


def test_gzip_tsv(tmp_path):
    path = tmp_path / "movies.tsv.gz"
    path.write_bytes(gzip.compress(MOVIES_TSV.encode()))
    meta = no_warnings(read_meta, path)
    assert meta.path == str(path)
    assert meta.keys == ("1", "2", "3", "007")
    assert meta.values["title"][1] == '"Jumanji", the game'


def test_bz2_without_a_telling_name_is_sniffed_as_tsv(tmp_path):
    path = tmp_path / "movies.dat"
    path.write_bytes(bz2.compress(MOVIES_TSV.encode()))
    assert no_warnings(read_meta, path).columns == ("title", "genres")


def test_unknown_suffix_with_commas_is_csv(tmp_path):
    meta = no_warnings(read_meta, write(tmp_path / "items.dat", 'id,title\n1,"a, b"\n'))
    assert meta.values == {"title": ["a, b"]}
    packed = tmp_path / "items.bin"
    packed.write_bytes(gzip.compress(b'id,title\n1,"a, b"\n'))
    assert no_warnings(read_meta, packed).values == {"title": ["a, b"]}


def test_key_column_by_name_and_exclude(tmp_path):
    path = write(tmp_path / "m.tsv", "title\titem_id\tvector\tyear\nToy Story\t1\t0.1 0.2\t1995\nHeat\t2\t0.3 0.4\t\n")
    meta = no_warnings(read_meta, path, "item_id", exclude=["vector", "not_there"])
    assert meta.key_column == "item_id"
    assert meta.columns == ("title", "year")
    assert meta.keys == ("1", "2")
    assert meta.values == {"title": ["Toy Story", "Heat"], "year": ["1995", None]}


def test_only_a_key_column(tmp_path):
    meta = no_warnings(read_meta, write(tmp_path / "keys.tsv", "item_id\n10\n20\n"))
    assert meta.columns == ()
    assert meta.values == {}
    assert meta.keys == ("10", "20")
    assert meta.align(["20", "30"]) == {}
    assert meta.align(["20", "30"], ["item_id"]) == {"item_id": ["20", None]}


def test_header_only_is_an_empty_table(tmp_path):
    meta = no_warnings(read_meta, write(tmp_path / "m.tsv", "id\ttitle\n"))
    assert (meta.keys, meta.columns, meta.values) == ((), ("title",), {"title": []})
    assert meta.find("title", "/./") == []


def test_recbole_item_file_drops_the_field_types(tmp_path):
    path = write(tmp_path / "ml-100k.item",
                 "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                 "1\tToy Story\t1995\tAnimation Children's Comedy\n"
                 '2\tGoldenEye "007"\t1995\tAction Adventure Thriller\n')
    meta = no_warnings(read_meta, path)
    assert meta.key_column == "item_id"
    assert meta.columns == ("movie_title", "release_year", "class")
    assert meta.values["movie_title"] == ["Toy Story", 'GoldenEye "007"']
    assert split_values(meta.values["class"][0], " ") == ["Animation", "Children's", "Comedy"]
    typed = no_warnings(read_meta, path, "item_id:token", exclude=["class:token_seq"])
    assert typed.key_column == "item_id"
    assert typed.columns == ("movie_title", "release_year")


def test_field_types_are_kept_outside_recbole_files(tmp_path):
    meta = no_warnings(read_meta, write(tmp_path / "m.tsv", "item_id:token\ttitle:token_seq\n1\tx\n"))
    assert meta.key_column == "item_id:token"
    assert meta.columns == ("title:token_seq",)


def test_invalid_utf8_is_replaced_with_a_warning(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_bytes(b"id\ttitle\n1\tCaf\xe9\n")
    with pytest.warns(EmbvizWarning, match=r"m\.tsv: not valid UTF-8; undecodable bytes were replaced with U\+FFFD$"):
        meta = read_meta(path)
    assert meta.values == {"title": ["Caf\ufffd"]}


# -- Parquet and Arrow ----------------------------------------------------------------------


def item_table(pa):
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(8, dtype=np.float32)), 2)
    return pa.table({
        "item_id": pa.array([42, 7, 1_000_000_000_007, 3], pa.int64()),
        "title": ["Toy Story", None, "Heat, \"the\" film", ""],
        "genres": pa.array([["Animation", "Comedy"], None, ["Crime", None, "Drama"], []], pa.list_(pa.string())),
        "year": pa.array([1995, None, 1995, 2001], pa.int32()),
        "rating": pa.array([3.5, 0.1, float("nan"), None], pa.float32()),
        "vector": vectors,
        "context": pa.array([[0.5, 0.25]] * 4, pa.list_(pa.float64())),
        "tag_ids": pa.array([[1, 2], [], None, [3]], pa.list_(pa.int16())),
        "seen": [True, False, None, True],
        "studio": pa.array(["Pixar", "Pixar", None, "Fox"]).dictionary_encode(),
    })


ITEM_VALUES = {
    "title": ["Toy Story", None, 'Heat, "the" film', None],
    "genres": ["Animation|Comedy", None, "Crime|Drama", None],
    "year": ["1995", None, "1995", "2001"],
    "rating": ["3.5", "0.1", None, None],
    "tag_ids": ["1|2", None, None, "3"],
    "seen": ["true", "false", None, "true"],
    "studio": ["Pixar", "Pixar", None, "Fox"],
}


def test_parquet_as_text_and_vector_columns_skipped(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "items.parquet"
    pq.write_table(item_table(pa), path)
    meta = no_warnings(read_meta, path)
    assert meta.key_column == "item_id"
    assert meta.keys == ("42", "7", "1000000000007", "3")
    assert meta.columns == ("title", "genres", "year", "rating", "tag_ids", "seen", "studio")
    assert meta.values == ITEM_VALUES


def test_feather_reads_like_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    feather = pytest.importorskip("pyarrow.feather")
    path = tmp_path / "items.feather"
    feather.write_feather(item_table(pa), path)
    meta = no_warnings(read_meta, path, exclude=["seen"])
    assert meta.keys == ("42", "7", "1000000000007", "3")
    assert meta.values == {name: v for name, v in ITEM_VALUES.items() if name != "seen"}


def test_arrow_stream_with_a_text_key(tmp_path):
    pa = pytest.importorskip("pyarrow")
    path = tmp_path / "items.arrow"
    table = pa.table({"year": pa.array([1995, 2001], pa.int64()), "sku": ["a-1", "b-2"]})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    meta = no_warnings(read_meta, path, "sku")
    assert meta.keys == ("a-1", "b-2")
    assert meta.values == {"year": ["1995", "2001"]}


def test_parquet_folder_of_parts_in_name_order(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    folder = tmp_path / "items"
    folder.mkdir()
    table = item_table(pa)
    pq.write_table(table.slice(2), folder / "part-00001.parquet")
    pq.write_table(table.slice(0, 2), folder / "part-00000.parquet")
    (folder / "_SUCCESS").write_text("")
    meta = no_warnings(read_meta, folder)
    assert meta.keys == ("42", "7", "1000000000007", "3")
    assert meta.values["genres"] == ITEM_VALUES["genres"]


def test_float_ids_in_the_key_column_are_whole_numbers(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"item_id": [1.0, 20.0, None], "title": ["a", "b", "c"]}), path)
    with pytest.warns(EmbvizWarning, match=r"ids\.parquet: 1 row with an empty key in column item_id was skipped$"):
        meta = read_meta(path)
    assert meta.keys == ("1", "20")
    assert meta.values == {"title": ["a", "b"]}


def test_struct_columns_are_skipped_with_a_warning(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"id": ["a"], "info": [{"x": 1}], "t": ["b"]}), path)
    with pytest.warns(EmbvizWarning, match=r"s\.parquet: skipped columns that are not text-like \(struct, map or binary\): info$"):
        meta = read_meta(path)
    assert meta.columns == ("t",)


def test_a_vector_key_column_is_refused(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "items.parquet"
    pq.write_table(item_table(pa), path)
    with pytest.raises(FormatError) as exc:
        read_meta(path, "vector")
    assert str(exc.value) == f"{path}: the key column vector is fixed_size_list<element: float>[2]; expected text or integers"


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"hello")
    with pytest.raises(FormatError) as exc:
        read_meta(path)
    assert str(exc.value).startswith(f"{path}: not a valid Parquet file: ")
    assert "\n" not in str(exc.value)


# -- duplicate and missing keys -------------------------------------------------------------


def test_duplicate_keys_keep_the_first_row_and_warn_once(tmp_path):
    path = write(tmp_path / "dups.tsv", "item_id\ttitle\n42\tfirst\n7\tx\n42\tsecond\n7\ty\n42\tthird\n8\tz\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        meta = read_meta(path)
    assert [str(w.message) for w in caught] == [
        f"{path}: 3 duplicate keys in column item_id (first: '42'); the first row of each is kept"
    ]
    assert caught[0].category is EmbvizWarning
    assert meta.keys == ("42", "7", "8")
    assert meta.values == {"title": ["first", "x", "z"]}
    assert meta.align(["42", "7"]) == {"title": ["first", "x"]}


def test_one_duplicate_key_warning_text(tmp_path):
    path = write(tmp_path / "dup.tsv", "item_id\ttitle\n1\ta\n1\tb\n")
    with pytest.warns(EmbvizWarning, match=r"dup\.tsv: 1 duplicate key in column item_id \(first: '1'\); the first row of each is kept$"):
        read_meta(path)


def test_rows_without_a_key_are_dropped_with_a_warning(tmp_path):
    path = write(tmp_path / "m.tsv", "id\tt\n1\ta\n\tb\n\tc\n2\td\n")
    with pytest.warns(EmbvizWarning, match=r"m\.tsv: 2 rows with an empty key in column id were skipped$"):
        meta = read_meta(path)
    assert meta.keys == ("1", "2")
    assert meta.values == {"t": ["a", "d"]}


# -- errors when reading --------------------------------------------------------------------


def read_fails(exact: str, *args, error=FormatError, **kw) -> None:
    with pytest.raises(error) as exc:
        read_meta(*args, **kw)
    assert str(exc.value) == exact


def test_missing_file(tmp_path):
    path = tmp_path / "nope.tsv"
    read_fails(f"{path}: no such file", path)


def test_unknown_key_column_lists_the_columns(tmp_path):
    path = write(tmp_path / "movies.tsv", MOVIES_TSV)
    read_fails(f"{path}: no column 'titel' for the key column (columns: item_id, title, genres)", path, "titel")


def test_excluding_the_key_column(tmp_path):
    path = write(tmp_path / "movies.tsv", MOVIES_TSV)
    read_fails(f"{path}: the key column item_id cannot be excluded", path, exclude=["item_id"], error=InvalidQuery)


def test_empty_file(tmp_path):
    read_fails(f"{tmp_path / 'empty.tsv'}: empty file; expected tab-separated text with a header row",
               write(tmp_path / "empty.tsv", ""))
    read_fails(f"{tmp_path / 'empty.csv'}: empty file; expected CSV with a header row",
               write(tmp_path / "empty.csv", ""))


def test_ragged_csv(tmp_path):
    path = write(tmp_path / "bad.csv", "a,b\n1,2\n3,4,5\n")
    read_fails(f"{path}: not valid CSV: Error tokenizing data. C error: Expected 2 fields in line 3, saw 3", path)


# -- align ------------------------------------------------------------------------------------


def test_align_in_the_order_asked_with_none_for_missing_keys(movies):
    assert movies.align(["007", "9", "1", "7"]) == {
        "title": ["GoldenEye (1995)", None, "Toy Story (1995)", None],
        "genres": ["Action|Thriller", None, "Animation|Children's|Comedy", None],
    }


def test_align_a_subset_of_columns_in_the_order_named(movies):
    assert movies.align(["3", "2"], ["genres"]) == {"genres": [None, "Adventure"]}
    assert movies.align(["3", "x"], ("genres", "item_id", "title")) == {
        "genres": [None, None],
        "item_id": ["3", None],
        "title": ["Grumpier Old Men, The (1995)", None],
    }
    assert movies.align(["1"], "title") == {"title": ["Toy Story (1995)"]}


def test_align_nothing(movies):
    assert movies.align([]) == {"title": [], "genres": []}
    assert movies.align(["1"], []) == {}


def test_align_unknown_column(movies):
    with pytest.raises(InvalidQuery) as exc:
        movies.align(["1"], ["title", "year"])
    assert str(exc.value) == f"{movies.path}: no column 'year' (columns: item_id, title, genres)"


def test_align_200_000_keys(tmp_path):
    n = 200_000
    rng = np.random.default_rng(0)
    ids = rng.permutation(n) * 3  # ids 0, 3, 6, ... in a shuffled order
    lines = "".join(f"{i}\tt{i}\t{'' if i % 7 == 0 else f'g{i % 5}'}\n" for i in ids)
    path = write(tmp_path / "big.tsv", "item_id\ttitle\tgenre\n" + lines)
    meta = no_warnings(read_meta, path)
    assert len(meta.keys) == n
    asked = rng.integers(0, 3 * n, size=n)  # about a third of them are ids
    got = meta.align([str(a) for a in asked])
    assert len(got["title"]) == len(got["genre"]) == n
    for j in rng.choice(n, 2_000, replace=False).tolist():
        a = int(asked[j])
        if a % 3:
            assert got["title"][j] is None and got["genre"][j] is None
        else:
            assert got["title"][j] == f"t{a}"
            assert got["genre"][j] == (None if a % 7 == 0 else f"g{a % 5}")
    expected_found = int(np.isin(asked, ids).sum())
    assert sum(t is not None for t in got["title"]) == expected_found


def test_a_hand_built_meta_with_repeated_keys_aligns_to_the_first():
    meta = Meta(path="m", key_column="k", columns=("v",), keys=("a", "b", "a"), values={"v": ["1", "2", "3"]})
    assert meta.align(["a", "b", "c"]) == {"v": ["1", "2", None]}


def test_a_meta_whose_values_do_not_fit_its_keys():
    with pytest.raises(ValueError, match="column 'v' has 1 values for 2 keys"):
        Meta(path="m", key_column="k", columns=("v",), keys=("a", "b"), values={"v": ["1"]})


# -- find -------------------------------------------------------------------------------------


def test_find_exact(movies):
    assert movies.find("genres", "Adventure") == ["2"]
    assert movies.find("title", "Toy Story") == []  # exact, not a substring
    assert movies.find("item_id", "007") == ["007"]


def test_find_regex_in_table_order(movies):
    assert movies.find("title", "/1995/") == ["1", "3", "007"]
    assert movies.find("genres", r"/(^|\|)Comedy(\||$)/") == ["1"]
    assert movies.find("title", "/, the/") == ["2"]  # case-sensitive
    assert movies.find("title", "/(?i), the/") == ["2", "3"]
    assert movies.find("title", "/^toy/") == []
    assert movies.find("genres", "//") == ["1", "2", "007"]  # an empty regex: every non-empty value


def test_find_no_match_is_empty(movies):
    assert movies.find("genres", "Horror") == []
    assert movies.find("genres", "") == []
    assert movies.find("title", "/") == []  # a lone slash is text, not a regex


def test_find_bad_regex(movies):
    with pytest.raises(InvalidQuery) as exc:
        movies.find("title", "/Toy (Story/")
    assert str(exc.value) == (
        f"{movies.path}: bad regular expression /Toy (Story/ for column title: "
        "missing ), unterminated subpattern at position 4"
    )


def test_find_regex_too_long(movies):
    pattern = "/" + "a" * (MAX_PATTERN - 1) + "/"
    with pytest.raises(InvalidQuery) as exc:
        movies.find("title", pattern)
    assert str(exc.value) == (
        f"{movies.path}: the regular expression for column title is 501 characters; at most 500 are allowed"
    )
    assert movies.find("title", pattern[1:]) == []  # as exact text it is not a regex


def test_find_unknown_column(movies):
    with pytest.raises(InvalidQuery) as exc:
        movies.find("genre", "Adventure")
    assert str(exc.value) == f"{movies.path}: no column 'genre' (columns: item_id, title, genres)"


# -- split_values -----------------------------------------------------------------------------


def test_split_values():
    assert split_values("Animation|Comedy", "|") == ["Animation", "Comedy"]
    assert split_values(" Animation | |Comedy|", "|") == ["Animation", "Comedy"]
    assert split_values("Drama", "|") == ["Drama"]
    assert split_values(None, "|") == []
    assert split_values("", "|") == []
    assert split_values("Action Adventure", " ") == ["Action", "Adventure"]


def test_split_values_needs_a_separator():
    with pytest.raises(InvalidQuery) as exc:
        split_values("a|b", "")
    assert str(exc.value) == "the separator to split values by is empty"
