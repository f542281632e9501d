"""Reading an uploaded CSV file: how it is encoded and delimited, its header, and its
records one at a time with the byte offset after each, so an import can stop after any
batch and resume exactly there.

Nothing here holds more than one record in memory. The file is read as bytes split at
``\\n`` (safe in UTF-8 and single-byte encodings) and decoded line by line; the ``csv``
module pulls lines until a record is complete, so a quoted field may span lines and the
offset after a record is always the start of the next one.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

DELIMITERS = (",", ";", "\t")
_SAMPLE_BYTES = 64 * 1024
_CHUNK_BYTES = 1024 * 1024
# A header is a list of names: a "header" this wide is not one.
MAX_COLUMNS = 500
MAX_HEADER_LENGTH = 200


class CsvFileError(ValueError):
    """The file cannot be read as CSV; the message says why in the user's words."""


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """What an import needs to know about a file before it reads a single row."""

    encoding: str  # utf-8-sig | cp1252
    delimiter: str
    columns: list[str]
    data_offset: int  # byte offset of the first record after the header
    total_rows: int  # non-blank records after the header
    size: int


def inspect_csv(path: Path) -> CsvLayout:
    """Detect encoding and delimiter, read the header and count the rows.

    Raises :class:`CsvFileError` for an empty or binary file, an encoding we cannot read,
    a missing or unusable header, or malformed CSV (with the row it broke at).
    """
    size = path.stat().st_size
    if size == 0:
        raise CsvFileError("the file is empty")
    with path.open("rb") as raw:
        head = raw.read(_SAMPLE_BYTES)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CsvFileError("the file is UTF-16 text; save it as CSV UTF-8 and upload it again")
    encoding = detect_encoding(path)
    sample = head.decode(encoding, errors="ignore")
    if not sample.strip():
        raise CsvFileError("the file is empty")
    if "\n" not in sample and "\r" in sample.rstrip("\r"):
        raise CsvFileError("lines end in a bare carriage return; save the file as CSV UTF-8")
    delimiter = sniff_delimiter(sample)
    columns: list[str] | None = None
    data_offset = 0
    total = 0
    try:
        for record, offset in read_records(path, encoding=encoding, delimiter=delimiter):
            if is_blank(record):
                continue
            if columns is None:
                columns = _header(record)
                data_offset = offset
                continue
            total += 1
    except csv.Error as exc:
        raise CsvFileError(f"the file is not valid CSV at data row {total + 1}: {exc}") from exc
    if columns is None:
        raise CsvFileError("the file has no header row")
    return CsvLayout(encoding, delimiter, columns, data_offset, total, size)


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when the whole file is UTF-8 (with or without a BOM), else
    ``cp1252`` (what spreadsheet programs on Windows write) when that reads it."""
    failure: UnicodeDecodeError | None = None
    for encoding in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        position = 0
        try:
            with path.open("rb") as raw:
                while chunk := raw.read(_CHUNK_BYTES):
                    if b"\x00" in chunk:
                        raise CsvFileError("the file is binary, not CSV text")
                    decoder.decode(chunk)
                    position += len(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            failure = failure or UnicodeDecodeError(
                exc.encoding, exc.object, position + exc.start, position + exc.end, exc.reason
            )
            continue
        return encoding
    where = f" (invalid byte at offset {failure.start})" if failure else ""
    raise CsvFileError(f"the file is not UTF-8 text{where}; save it as CSV UTF-8")


def sniff_delimiter(sample: str) -> str:
    """The delimiter among ``,`` ``;`` and tab: the csv sniffer's guess when the header
    line contains it, else the one the header line uses most (``,`` when it has none)."""
    lines = sample.splitlines()
    first = next((line for line in lines if line.strip()), "")
    counts = {d: _count_outside_quotes(first, d) for d in DELIMITERS}
    complete = sample[: sample.rfind("\n")] if "\n" in sample else sample
    try:
        guessed = csv.Sniffer().sniff(complete, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        guessed = None
    if guessed in counts and counts[guessed] > 0:
        return guessed
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def _header(record: list[str]) -> list[str]:
    columns = [cell.strip() for cell in record]
    if len(columns) > MAX_COLUMNS:
        raise CsvFileError(f"the header has {len(columns)} columns; at most {MAX_COLUMNS}")
    named = [c for c in columns if c]
    if not named:
        raise CsvFileError("the header row has no column names")
    if any(len(c) > MAX_HEADER_LENGTH or not c.isprintable() for c in named):
        raise CsvFileError("the first row does not look like a header of column names")
    seen: set[str] = set()
    for name in named:
        if name.casefold() in seen:
            raise CsvFileError(f"the column {name!r} appears more than once in the header")
        seen.add(name.casefold())
    return columns


def is_blank(record: list[str]) -> bool:
    return not any(cell.strip() for cell in record)


def read_records(
    path: Path, *, encoding: str, delimiter: str, offset: int = 0
) -> Generator[tuple[list[str], int]]:
    """Each record from ``offset`` on, with the byte offset just after it.

    Close the iterator (or exhaust it) to close the file.
    """
    # A BOM only exists at the very start; mid-file, U+FEFF would be content.
    if offset > 0 and encoding == "utf-8-sig":
        encoding = "utf-8"
    decoder = codecs.getincrementaldecoder(encoding)()
    position = offset
    with path.open("rb") as raw:
        raw.seek(offset)

        def lines() -> Iterator[str]:
            nonlocal position
            for line in raw:
                position += len(line)
                yield decoder.decode(line)

        for record in csv.reader(lines(), delimiter=delimiter, strict=False):
            yield record, position
