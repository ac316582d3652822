"""The export phase: the whole table at the largest size as CSV through the api against COPY out of
the export's own query, with the api's memory meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from bench.bulk import BULK_ROUNDS
from bench.common import log, median, medians, peak_rss_mb, ratio, rss_mb, shown

if TYPE_CHECKING:
    from bench.run import Suite

EXPORT_PATH = "/v1/assets/export?format=csv"
RSS_SAMPLE_S = 0.1


async def export_phase(suite: Suite) -> None:
    """`export`: the whole table at the largest size as CSV through the api (streamed and
    discarded by another process, the api's RSS sampled meanwhile) vs COPY of the same query."""
    size = max(suite.opts.sizes)
    await suite.seed_to(size)
    rounds_n = max(1, min(suite.opts.rounds, BULK_ROUNDS))
    log(f"export: GET {EXPORT_PATH} of {size:,} assets vs COPY (the export's query) TO STDOUT")
    rounds: list[dict[str, Any]] = []
    for r in range(rounds_n):
        order = ["app", "raw"] if r % 2 == 0 else ["raw", "app"]
        found: dict[str, Any] = {"order": order}
        for side in order:
            found[side] = await (_export_app(suite) if side == "app" else _export_raw(suite))
        app, raw = found["app"], found["raw"]
        if app["rows"] != raw["rows"]:
            raise RuntimeError(f"the export gave {app['rows']:,} rows, COPY of its query {raw['rows']:,}")
        found["ratio"] = ratio(app["rate"], raw["rate"])
        rounds.append(found)
        log(
            f"  export round {r + 1}/{rounds_n}: app {app['rate']:,.0f} rows/s ({app['seconds']:.1f} s, "
            f"{app['bytes'] / 1e6:,.0f} MB, api RSS max {app['api_rss_mb']} MB) | raw COPY "
            f"{raw['rate']:,.0f} rows/s ({raw['seconds']:.1f} s, {raw['bytes'] / 1e6:,.0f} MB) | ratio "
            f"{shown(found['ratio'])}"
        )
    suite.results["export"] = {
        "rows": rounds[0]["app"]["rows"],
        "ratio": median(r["ratio"] for r in rounds),
        "app": medians([r["app"] for r in rounds], ("rate", "seconds", "bytes", "first_byte_s")),
        "raw": medians([r["raw"] for r in rounds], ("rate", "seconds", "bytes")),
        "api_rss_mb": max((r["app"]["api_rss_mb"] for r in rounds if r["app"]["api_rss_mb"]), default=None),
        "rounds": rounds,
    }
    suite.checkpoint()


async def _export_app(suite: Suite) -> dict[str, Any]:
    api = suite.stack.api
    assert api is not None
    spec = {
        "mode": "download",
        "base_url": suite.stack.base_url,
        "path": EXPORT_PATH,
        "token": suite.stack.token,
        "timeout": 3600,
    }
    rss_before, peak_before = rss_mb(api.pid), peak_rss_mb(api.pid)
    stop = asyncio.Event()
    sampler = asyncio.create_task(_max_rss(api.pid, stop))
    try:
        found = await suite._helper("transfer", spec, limit_s=3700)
    finally:
        stop.set()
        sampled = await sampler
    peak_after = peak_rss_mb(api.pid)
    # The kernel's high-water mark is exact, but only about the export when it rose during it.
    rose = peak_after is not None and peak_before is not None and peak_after > peak_before
    if found["status"] != 200:
        raise RuntimeError(f"the export answered {found['status']}")
    rows = found["lines"] - 1  # the header; the seeded cells hold no line breaks
    highest = [v for v in (sampled, peak_after if rose else None) if v is not None]
    return {
        **found,
        "rows": rows,
        "rate": rows / found["seconds"] if found["seconds"] > 0 else 0.0,
        "api_rss_mb": max(highest) if highest else None,
        "api_rss_sampled_mb": sampled,
        "api_rss_before_mb": rss_before,
        "api_peak_rss_before_mb": peak_before,
        "api_peak_rss_after_mb": peak_after,
    }


async def _max_rss(pid: int, stop: asyncio.Event) -> float | None:
    """The largest VmRSS of a process, sampled every RSS_SAMPLE_S until `stop`."""
    highest: float | None = None
    while True:
        now = rss_mb(pid)
        if now is not None and (highest is None or now > highest):
            highest = now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RSS_SAMPLE_S)
        if stop.is_set():
            return highest


async def _export_raw(suite: Suite) -> dict[str, Any]:
    return await suite._helper(
        "rawbulk", {"mode": "copy_out", "dsn": suite.stack.dsn, "org_id": str(suite.org_id)}
    )
