"""Reading the file of an import: its CSV or NDJSON rows, each checked as the v1 API checks a
body and made an `ImportRow`, a chunk at a time, from a file on disk (the api spools the body
there as it arrives, so no import is ever held whole in memory). The command line reads its
file with the same reader."""

import asyncio
import codecs
import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

from pydantic import ValidationError

from services.api.problems import problems_from_validation
from services.api.schemas.assets import AssetPatch
from shared.asset_columns import COLUMNS, HUMAN_KEYS, MODEL_KEY, READ_ONLY_COLUMNS
from shared.errors import FieldProblem
from shared.services.imports import ImportRow

CSV_TYPES = ("text/csv",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
# Rows a chunk: the use case looks up a chunk's existing assets in one statement.
CHUNK_ROWS = 500
# csv's own limit on a field (128 KiB) is below what notes may hold with their quotes.
csv.field_size_limit(1024 * 1024)

_FIELDS = frozenset(AssetPatch.model_fields)
_KEYS = frozenset({key.column for key in HUMAN_KEYS} | set(MODEL_KEY))
_TAG = "asset_tag"
# Shown by an export, never written by an import (the model's key and the tag are read).
_IGNORED = READ_ONLY_COLUMNS - _KEYS - {_TAG}
_KNOWN = frozenset(COLUMNS) | _FIELDS | _KEYS


class FileProblem(Exception):
    """The file as a whole cannot be read: not the format it claims, an unknown column, ..."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ImportFile:
    """An import's file on disk, and its format (`csv` or `ndjson`)."""

    path: Path
    format: str

    async def chunks(self) -> AsyncIterator[list[ImportRow]]:
        """Its rows, CHUNK_ROWS at a time; the event loop runs between chunks."""
        # UTF-8 text, without its byte order mark if it has one; a byte that is not UTF-8 fails.
        opened = (
            self.path.open("r", encoding="utf-8-sig", errors="strict", newline="")
            if self.format == "csv"
            else self.path.open("rb")
        )
        with opened as file:
            rows = _csv_rows(file) if isinstance(file, io.TextIOWrapper) else _ndjson_rows(file)
            chunk: list[ImportRow] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) == CHUNK_ROWS:
                    yield chunk
                    chunk = []
                    await asyncio.sleep(0)
            if chunk:
                yield chunk


def format_of(content_type: str) -> str | None:
    if content_type in CSV_TYPES:
        return "csv"
    if content_type in NDJSON_TYPES:
        return "ndjson"
    return None


def _csv_rows(text: TextIO) -> Iterator[ImportRow]:
    try:
        first = text.readline()
    except UnicodeDecodeError as exc:
        raise FileProblem(f"The file is not UTF-8 text: {exc.reason} in its first line.") from exc
    if not first.strip():
        raise FileProblem("The file is empty: a CSV import starts with a header row of v1 field names.")
    # `;` where a spreadsheet writes it for a locale whose decimal mark is a comma.
    delimiter = ";" if first.count(";") > first.count(",") else ","
    header = next(csv.reader([first], delimiter=delimiter))
    columns = [name.strip() for name in header]
    _check_header(columns)
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise FileProblem(f"The file is not UTF-8 text: {exc.reason} after row {number}.") from exc
        except csv.Error as exc:
            raise FileProblem(f"The file is not valid CSV after row {number}: {exc}.") from exc
        number += 1
        if not any(cell.strip() for cell in cells):
            continue  # an empty line: a spreadsheet's blank row
        if len(cells) > len(columns):
            yield ImportRow(
                number,
                problems=[FieldProblem("row", f"has {len(cells)} cells; the header has {len(columns)}")],
            )
            continue
        yield _row(number, dict(zip(columns, cells, strict=False)), from_csv=True)


def _check_header(columns: list[str]) -> None:
    unknown = [f"{name!r} (column {index + 1})" for index, name in enumerate(columns) if name not in _KNOWN]
    if unknown:
        raise FileProblem(
            f"The header names unknown columns: {', '.join(unknown)}. The columns are the v1 "
            "fields of an asset, with the human keys of an export (see the README)."
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise FileProblem(f"The header names columns more than once: {', '.join(repeated)}.")


def _ndjson_rows(raw: IO[bytes]) -> Iterator[ImportRow]:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    for number, line in enumerate(raw, start=1):
        try:
            text = decoder.decode(line.removeprefix(codecs.BOM_UTF8) if number == 1 else line)
        except UnicodeDecodeError as exc:
            raise FileProblem(f"The file is not UTF-8 text: {exc.reason} in line {number}.") from exc
        if not text.strip():
            continue
        try:
            values = json.loads(text)
        except ValueError as exc:
            yield ImportRow(number, problems=[FieldProblem("row", f"is not valid JSON ({exc})")])
            continue
        if not isinstance(values, dict):
            yield ImportRow(
                number, problems=[FieldProblem("row", "must be a JSON object, as a v1 create body")]
            )
            continue
        unknown = [FieldProblem(name, "is not a known field") for name in values if name not in _KNOWN]
        if unknown:
            yield ImportRow(number, problems=unknown)
            continue
        yield _row(number, values, from_csv=False)


def _row(number: int, values: dict[str, Any], from_csv: bool) -> ImportRow:
    """One row's values checked as the v1 API checks a body (a CSV's empty cell is null, or left
    out for a field that may not be null)."""
    item = ImportRow(number)
    fields: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, str) and "\x00" in value:
            item.problems.append(FieldProblem(name, "must not contain NUL (\\u0000)"))
            continue
        if name in _IGNORED:
            continue
        if from_csv:
            value = value.strip()
            if value == "":
                value = None
        if name == _TAG:
            if value is not None:
                if not isinstance(value, str) or len(value) > 255:
                    item.problems.append(FieldProblem(name, "must be text of at most 255 characters"))
                else:
                    item.asset_tag = value
        elif name in _KEYS:
            if value is not None:
                item.keys[name] = str(value)
        elif value is None and from_csv and name in AssetPatch.not_null:
            continue
        elif name == "custom_fields" and from_csv:
            try:
                fields[name] = json.loads(value)
            except ValueError:
                item.problems.append(FieldProblem(name, 'must be a JSON object, such as {"ram_gb": 16}'))
        else:
            fields[name] = value
    if item.problems:
        return item
    try:
        checked = AssetPatch.model_validate(fields, strict=False)
    except ValidationError as exc:
        item.problems.extend(problems_from_validation(exc, "row"))
        return item
    item.problems.extend(FieldProblem(name, "may be left out but not null") for name in checked.null_fields())
    item.fields = checked.model_dump(exclude_unset=True)
    return item
