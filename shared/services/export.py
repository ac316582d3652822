"""Use case of the asset export: every asset of the v1 list's filters as one CSV or NDJSON file,
from one snapshot, encoded a chunk at a time."""

import csv
import datetime as dt
import io
import re
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from uuid import UUID

from shared.asset_columns import CELL_WRITERS, COLUMNS, ExportedAsset, ExportFormat
from shared.domain.queries import AssetFilter
from shared.jsonio import dumps
from shared.services.unit_of_work import UnitOfWork

# Rows read from the cursor and encoded at a time: memory holds two chunks (the one encoded and the
# next, read meanwhile), and the event loop is held only for the encoding of one. Measured over
# 1,000,000 assets on 2 cores, when a row took about 40 us to encode through its models: 250 rows a
# chunk streamed the 537 MB CSV in 62 s with the api's RSS flat at 89-91 MB and the p99 of
# concurrent requests at 80 ms; 1,000 rows took 77 s, grew to 117 MB and had a p99 of 180 ms.
# Encoded straight from the rows read, a row takes about a third of that.
CHUNK_ROWS = 250

_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class ExportTally:
    """How many assets the chunks handed out so far hold."""

    rows: int = 0


@dataclass(frozen=True)
class AssetExport:
    """An export about to be written: its file name, and its bytes chunk by chunk. The first chunk
    (the CSV header and the first rows, or just the header when nothing matches) comes once the
    snapshot is taken; close `chunks` (`contextlib.aclosing`) to give its connection back.
    `tally` counts the assets in the chunks yielded so far, for a progress display."""

    file_name: str
    chunks: AsyncGenerator[bytes, None]
    tally: ExportTally


async def export_assets(uow: UnitOfWork, org_id: UUID, flt: AssetFilter, fmt: ExportFormat) -> AssetExport:
    """The organisation's assets of the filter as a file named after the organisation and the UTC
    date, such as assets-ACME-2026-03-31.csv."""
    org = await uow.organisations.get(org_id)
    name = _UNSAFE_IN_FILE_NAME.sub("", org.prefix) or "org"
    file_name = f"assets-{name}-{dt.datetime.now(dt.UTC).date().isoformat()}.{fmt.value}"
    tally = ExportTally()
    return AssetExport(file_name, _encoded(uow, org_id, flt, fmt, dt.date.today(), tally), tally)


async def export_total(uow: UnitOfWork, org_id: UUID, flt: AssetFilter) -> tuple[int, bool]:
    """How many assets an export of the filter will hold, as the v1 list counts them, and whether
    that is an estimate (a `q` that matches very many). Counted before the export's snapshot is
    taken, so writes in between can make it a few off: a figure for progress, not a promise."""
    page = await uow.assets.page(org_id, flt, 0, 0)
    return page.total, page.total_is_estimate


async def _encoded(
    uow: UnitOfWork, org_id: UUID, flt: AssetFilter, fmt: ExportFormat, today: dt.date, tally: ExportTally
) -> AsyncGenerator[bytes, None]:
    encode = _ENCODERS[fmt]
    async with aclosing(uow.exports.chunks(org_id, flt, CHUNK_ROWS)) as chunks:
        # A row that cannot be encoded breaks the export off before its chunk is counted.
        first: list[ExportedAsset] = await anext(chunks, [])
        encoded = (csv_header() if fmt is ExportFormat.CSV else b"") + encode(first, today)
        tally.rows += len(first)
        yield encoded
        async for rows in chunks:
            encoded = encode(rows, today)
            tally.rows += len(rows)
            yield encoded


def csv_header() -> bytes:
    """The header row: the column contract."""
    return csv_rows([list(COLUMNS)])


def csv_rows(rows: Sequence[Sequence[str]]) -> bytes:
    """Rows of cells as RFC 4180 CSV (quoted where needed, CRLF), UTF-8."""
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode()


def _csv(rows: Sequence[ExportedAsset], today: dt.date) -> bytes:
    text = io.StringIO()
    write = csv.writer(text).writerow
    for row in rows:
        cells = row.cells(today)
        for at, cell_text in CELL_WRITERS:
            if (value := cells[at]) is not None:
                cells[at] = cell_text(value)
        write(cells)
    return text.getvalue().encode()


def _ndjson(rows: Sequence[ExportedAsset], today: dt.date) -> bytes:
    return b"".join([dumps(dict(zip(COLUMNS, row.cells(today), strict=True))) + b"\n" for row in rows])


_ENCODERS: dict[ExportFormat, Callable[[Sequence[ExportedAsset], dt.date], bytes]] = {
    ExportFormat.CSV: _csv,
    ExportFormat.NDJSON: _ndjson,
}
