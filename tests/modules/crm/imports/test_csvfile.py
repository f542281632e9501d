"""Reading CSV files: detection, offsets that resume exactly, row validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bizos.modules.crm.imports.csvfile import CsvFileError, inspect_csv, read_records
from bizos.modules.crm.imports.mapping import RowPlan, parse_row, resolve_mapping


def test_offsets_resume_after_a_record_with_a_quoted_newline(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b'email,note\r\na@x.example,"two\r\nlines"\r\nb@x.example,plain\r\n')
    layout = inspect_csv(path)
    assert (layout.columns, layout.total_rows, layout.delimiter) == (["email", "note"], 2, ",")

    first = read_records(path, encoding=layout.encoding, delimiter=",", offset=layout.data_offset)
    record, offset = next(first)
    first.close()
    assert record == ["a@x.example", "two\r\nlines"]
    rest = list(read_records(path, encoding=layout.encoding, delimiter=",", offset=offset))
    assert rest == [(["b@x.example", "plain"], path.stat().st_size)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"PK\x03\x04\x00\x00", "binary"),
        (b"email\r" * 3, "carriage return"),
        (b"email,Email\na@x.example,b@x.example\n", "more than once"),
        (b"email\n\xff\xfe\x81\x8d\n", "not UTF-8"),
    ],
)
def test_files_that_cannot_be_read_say_why(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CsvFileError, match=message):
        inspect_csv(path)


def test_row_validation_reports_each_problem_by_column() -> None:
    header = ["Mail", "Tel", "Land"]
    mapping, problems = resolve_mapping(header, {"Tel": "phone", "Land": "country"}, "contacts")
    assert problems == [] and mapping == {"Tel": "phone", "Land": "country", "Mail": "email"}
    plan = RowPlan.build(header, mapping, "contacts")

    values = parse_row(["'=HYPERLINK()", "030 901820", "Germany"], plan)
    assert isinstance(values, list)  # the quote goes, and "=HYPERLINK()" is no email
    assert [p["column"] for p in values] == ["Mail"]

    values = parse_row(["x@y.example", "030 901820", "Germany"], plan)
    assert not isinstance(values, list)
    assert (values.email_normalized, values.phone_normalized, values.country) == (
        "x@y.example",
        "+4930901820",
        "DE",
    )
    too_many = parse_row(["a@b.example", "", "", "extra"], plan)
    assert isinstance(too_many, list) and "more value" in too_many[0]["msg"]


def test_leads_need_an_email_column() -> None:
    _, problems = resolve_mapping(["phone", "name"], None, "leads")
    assert problems and problems[0]["loc"] == ["body", "mapping"]
