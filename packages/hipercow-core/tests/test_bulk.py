"""Bulk data and templates: ranges, lists, CSV files, combining, and the checks on names."""

from __future__ import annotations

from pathlib import Path

import pytest

from hipercow_core.bulk import bulk_commands, combine, parse_data, read_data, rows
from hipercow_core.errors import InvalidInputError


def values(spec: str, cwd: Path | None = None) -> list[dict[str, str]]:
    return list(rows(parse_data(spec, cwd)))


def test_ranges_include_or_exclude_their_end() -> None:
    assert [r["x"] for r in values("x=1..4")] == ["1", "2", "3", "4"]
    assert [r["x"] for r in values("x=1:4")] == ["1", "2", "3"]
    assert [r["x"] for r in values("x=-2..0")] == ["-2", "-1", "0"]


def test_a_list_keeps_its_order_and_strips_spaces() -> None:
    assert [r["m"] for r in values("m = ols, ridge ,lasso")] == ["ols", "ridge", "lasso"]


@pytest.mark.parametrize("spec", ["x=5..1", "x=3:3", "x="])
def test_data_giving_no_values_is_refused(spec: str) -> None:
    with pytest.raises(InvalidInputError, match="gives no values"):
        parse_data(spec)


def test_a_csv_file_gives_one_row_per_line(tmp_path: Path) -> None:
    (tmp_path / "runs.csv").write_text("seed, model\n1,a\n\n2,b\n", encoding="utf-8")
    assert values("runs.csv", tmp_path) == [
        {"seed": "1", "model": "a"},
        {"seed": "2", "model": "b"},
    ]


def test_a_csv_file_with_a_short_row_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"line 3 of .* has 1 values for 2 columns"):
        parse_data("bad.csv", tmp_path)


def test_a_csv_column_must_be_a_usable_name(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("ok,2nd\n1,2\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="CSV column name '2nd'"):
        parse_data("bad.csv", tmp_path)


def test_neither_data_nor_a_file_says_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="neither name=values nor an existing CSV file"):
        parse_data("nothing.csv", tmp_path)


def test_data_combine_as_every_combination_or_zip_row_by_row() -> None:
    x, y = parse_data("x=1..2"), parse_data("y=a,b")
    assert list(rows(combine([x, y]))) == [
        {"x": "1", "y": "a"},
        {"x": "1", "y": "b"},
        {"x": "2", "y": "a"},
        {"x": "2", "y": "b"},
    ]
    assert list(rows(combine([x, y], zip_rows=True))) == [
        {"x": "1", "y": "a"},
        {"x": "2", "y": "b"},
    ]


def test_zip_needs_equal_lengths_and_names_must_differ() -> None:
    with pytest.raises(InvalidInputError, match="--zip needs data of equal lengths, got 2, 3"):
        combine([parse_data("x=1..2"), parse_data("y=1..3")], zip_rows=True)
    with pytest.raises(InvalidInputError, match="data name 'x' is given more than once"):
        combine([parse_data("x=1..2"), parse_data("x=3..4")])


def test_commands_fill_every_placeholder_of_the_template() -> None:
    data = read_data(["n=1..2", "model=a"], zip_rows=False)
    assert bulk_commands(["fit", "--n=@n", "@model.json"], data) == [
        ("fit", "--n=1", "a.json"),
        ("fit", "--n=2", "a.json"),
    ]


def test_template_and_data_must_agree_on_names() -> None:
    data = read_data(["n=1..2"])
    with pytest.raises(InvalidInputError, match="the template uses @m but no data gives it"):
        bulk_commands(["fit", "@n", "@m"], data)
    with pytest.raises(InvalidInputError, match="the data gives n but the template never uses @n"):
        bulk_commands(["fit"], data)


def test_a_doubled_at_sign_is_a_literal_one() -> None:
    data = read_data(["user=ann,bob"])
    template = ["mail", "@user@@example.com", "pip", "install", "pkg@@1.2", "git@@host:@@@user"]
    assert bulk_commands(template, data) == [
        ("mail", "ann@example.com", "pip", "install", "pkg@1.2", "git@host:@ann"),
        ("mail", "bob@example.com", "pip", "install", "pkg@1.2", "git@host:@bob"),
    ]
    # a value holding '@' or '@@' is inserted as it is, never read as a template again
    assert bulk_commands(["echo", "@v"], read_data(["v=a@@b"])) == [("echo", "a@@b")]


def test_an_unknown_at_name_says_how_to_write_a_literal_at() -> None:
    with pytest.raises(InvalidInputError, match="the template uses @example") as raised:
        bulk_commands(["mail", "@user@example.com"], read_data(["user=ann"]))
    assert "@@" in (raised.value.hint or "")


def test_no_data_at_all_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="no --data given"):
        read_data([])


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_csv_file_as_excel_saves_unicode_is_read(tmp_path: Path, encoding: str) -> None:
    """Excel's 'CSV UTF-8' starts with a BOM; its Unicode text is UTF-16 with one."""
    (tmp_path / "runs.csv").write_bytes("site,n\r\nMünchen,1\r\n".encode(encoding))
    assert values("runs.csv", tmp_path) == [{"site": "München", "n": "1"}]


def test_a_cp1252_csv_file_is_refused_with_how_to_save_it(tmp_path: Path) -> None:
    (tmp_path / "runs.csv").write_bytes("site,n\r\nMünchen,1\r\n".encode("cp1252"))
    with pytest.raises(InvalidInputError, match="is not UTF-8 text") as caught:
        parse_data("runs.csv", tmp_path)
    assert caught.value.hint is not None and "CSV UTF-8" in caught.value.hint
