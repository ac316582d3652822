"""The results as a table on stdout and as Markdown (bench/results/latest.md), with the targets of
issue 6 (and those of the rate limiter and the bulk phases) checked."""

from __future__ import annotations

from typing import Any

# The most of the read rate each rate-limiter configuration may cost (1 - limited / off).
RATE_LIMIT_TARGETS = {"memory": 0.05, "redis": 0.15}
# The least of the raw side's rate each bulk phase must reach.
BULK_TARGETS = {"import": 0.1, "drain": 0.6, "export": 0.3}
# What each `rss_mb` figure is, in the targets.
RSS_LABELS = {"api": "api peak RSS", "worker": "worker peak RSS", "api_export": "api RSS during the export"}
RATE_LIMIT_CONFIGS = ("off", "memory", "redis")


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _pair(a: float | None, b: float | None, digits: int = 1) -> str:
    return f"{_num(a, digits)} / {_num(b, digits)}"


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 6: what was measured and whether it is met (None: not measured)."""
    details = doc.get("details", {})
    read = details.get("read", {})
    found: list[dict[str, Any]] = []

    def add(
        name: str, measured: float | None, target: str, ok: bool | None, shown: str | None = None
    ) -> None:
        found.append(
            {
                "target": name,
                "measured": shown if shown is not None else _num(measured, 2),
                "goal": target,
                "met": ok,
            }
        )

    ratio = doc.get("read_ratio")
    add("read ratio (lower of c=10, c=50)", ratio, ">= 0.5", None if ratio is None else ratio >= 0.5)
    costs = doc.get("rate_limit_cost") or {}
    for storage, most in RATE_LIMIT_TARGETS.items():
        cost = costs.get(storage)
        add(
            f"rate limiter cost on reads, {storage} (worse of c=10, c=50)",
            cost,
            f"<= {most:.2f}",
            None if cost is None else cost <= most,
            _num(cost, 3),
        )
    c10 = read.get("10", {}).get("app", {})
    p99 = c10.get("p99_ms")
    add("read p99 at 10 connections", p99, "< 10 ms", None if p99 is None else p99 < 10, f"{_num(p99)} ms")
    c50 = read.get("50", {}).get("app", {})
    p50_50, p99_50 = c50.get("p50_ms"), c50.get("p99_ms")
    fair = None if p50_50 is None or p99_50 is None else p99_50 <= 3 * p50_50
    add(
        "read at 50 connections: p99 within 3x p50",
        None,
        "p99 <= 3 x p50",
        fair,
        f"p50 {_num(p50_50)} / p99 {_num(p99_50)} ms",
    )
    lists = doc.get("list_p99_ms") or {}
    if lists:
        largest = max(lists, key=int)
        worst = lists[largest]
        add(
            f"list first page p99 at {int(largest):,}",
            worst,
            "< 25 ms",
            None if worst is None else worst < 25,
            f"{_num(worst)} ms",
        )
    deep = doc.get("deep_page_p99_ms")
    add("deep page p99", deep, "< 50 ms", None if deep is None else deep < 50, f"{_num(deep)} ms")
    write = doc.get("write_ratio")
    add("write ratio", write, ">= 0.4", None if write is None else write >= 0.4)
    pipe = doc.get("pipeline_ratio")
    add("pipeline ratio", pipe, ">= 0.5", None if pipe is None else pipe >= 0.5)
    e2e = doc.get("e2e_p99_ms")
    add("end-to-end p99 at half load", e2e, "< 250 ms", None if e2e is None else e2e < 250, f"{_num(e2e)} ms")
    hooks = doc.get("webhook_ratio")
    add("webhook deliveries ratio (no target set)", hooks, "-", None)
    for phase, least in BULK_TARGETS.items():
        bulk = doc.get(f"{phase}_ratio")
        add(f"{phase} ratio", bulk, f">= {least}", None if bulk is None else bulk >= least)
    for name, value in (doc.get("rss_mb") or {}).items():
        add(
            RSS_LABELS.get(name, f"{name} peak RSS"),
            value,
            "< 150 MB",
            None if value is None else value < 150,
            f"{_num(value)} MB",
        )
    return found


def _rows(doc: dict[str, Any]) -> tuple[list[list[str]], list[str], list[list[str]]]:
    """(comparison rows, list-table header, list rows)."""
    details = doc.get("details", {})
    rows: list[list[str]] = []
    for connections, found in details.get("read", {}).items():
        app, raw = found["app"], found["raw"]
        rows.append(
            [
                f"read c={connections}",
                "req/s",
                _num(app["rate"], 0),
                _num(raw["rate"], 0),
                _num(found["ratio"], 2),
            ]
        )
        rows.append(
            ["", "p50 / p99 ms", _pair(app["p50_ms"], app["p99_ms"]), _pair(raw["p50_ms"], raw["p99_ms"]), ""]
        )
        token = found.get("raw_with_token")
        if token:
            rows.append(
                [
                    "",
                    "raw with token lookup, req/s",
                    "",
                    _num(token["rate"], 0),
                    _num(token["app_ratio"], 2),
                ]
            )
    for connections, found in details.get("write", {}).items():
        app, raw = found["app"], found["raw"]
        rows.append(
            [
                f"write c={connections}",
                "req/s",
                _num(app["rate"], 0),
                _num(raw["rate"], 0),
                _num(found["ratio"], 2),
            ]
        )
        rows.append(
            ["", "p50 / p99 ms", _pair(app["p50_ms"], app["p99_ms"]), _pair(raw["p50_ms"], raw["p99_ms"]), ""]
        )
    pipe = details.get("pipeline")
    if pipe:
        app, raw = pipe["app"], pipe["raw"]
        rows.append(
            [
                "pipeline",
                "events/s, max",
                _num(app["max_rate"], 0),
                _num(raw["max_rate"], 0),
                _num(pipe["ratio"], 2),
            ]
        )
        rows.append(
            [
                "",
                "e2e p50 / p99 ms at half",
                _pair(app["half_p50_ms"], app["half_p99_ms"]),
                _pair(raw["half_p50_ms"], raw["half_p99_ms"]),
                "",
            ]
        )
        rows.append(["", "half rate, events/s", _num(app["half_rate"], 0), _num(raw["half_rate"], 0), ""])
    hooks = details.get("webhooks")
    if hooks:
        app, raw = hooks["app"], hooks["raw"]
        rows.append(
            [
                "webhooks",
                "deliveries/s, a backlog",
                _num(app["rate"], 0),
                _num(raw["rate"], 0),
                _num(hooks["ratio"], 2),
            ]
        )
        rows.append(
            [
                "",
                f"p50 / p99 ms (app: commit to arrival at {_num(app['half_rate'], 0)}/s; raw: a POST)",
                _pair(app["p50_ms"], app["p99_ms"]),
                _pair(raw["p50_ms"], raw["p99_ms"]),
                "",
            ]
        )
    rows += _bulk_rows(details)
    lists = details.get("list", {})
    sizes = sorted(lists, key=int)
    header = ["list (p50 / p99 ms)", *[f"{int(s):,}" for s in sizes]]
    labels: list[str] = []
    for size in sizes:
        for label in lists[size]:
            key = label if not label.startswith("v1 deep page") else "v1 deep page"
            if key not in labels:
                labels.append(key)
    list_rows = []
    for key in labels:
        row = [key]
        for size in sizes:
            case = next((c for label, c in lists[size].items() if label.startswith(key)), None)
            if case is None:
                row.append("-")
            else:
                page = ""
                if key == "v1 deep page":
                    page = f" (p{case['path'].split('page=')[1].split('&')[0]})"
                row.append(_pair(case["p50_ms"], case["p99_ms"]) + page)
        list_rows.append(row)
    return rows, header, list_rows


def _bulk_rows(details: dict[str, Any]) -> list[list[str]]:
    """The import, drain and export comparisons; [] for those that did not run."""
    rows: list[list[str]] = []
    found = details.get("import")
    if found:
        app, raw = found["app"], found["raw"]
        rows.append(
            [
                f"import {found['rows']:,} rows",
                "rows/s (raw: COPY)",
                _num(app["rate"], 0),
                _num(raw["rate"], 0),
                _num(found["ratio"], 2),
            ]
        )
        rows.append(["", "seconds", _num(app["seconds"]), _num(raw["seconds"]), ""])
    found = details.get("drain")
    if found:
        app, raw = found["app"], found["raw"]
        rows.append(
            [
                f"drain {found['assets']:,} events",
                "assets/s (raw: msgs/s)",
                _num(app["rate"], 0),
                _num(raw["rate"], 0),
                _num(found["ratio"], 2),
            ]
        )
        rows.append(["", "seconds", _num(app["seconds"]), _num(raw["span_s"]), ""])
        stages = " / ".join(_num(app.get(f"{s}_s")) for s in ("relay", "lifecycle", "depreciation", "audit"))
        rows.append(["", "last sent / lifecycle / depreciation / audit, s", stages, "", ""])
    found = details.get("export")
    if found:
        app, raw = found["app"], found["raw"]
        rows.append(
            [
                f"export {found['rows']:,} rows",
                "rows/s (raw: COPY TO STDOUT)",
                _num(app["rate"], 0),
                _num(raw["rate"], 0),
                _num(found["ratio"], 2),
            ]
        )
        rows.append(["", "seconds", _num(app["seconds"]), _num(raw["seconds"]), ""])
        rows.append(["", "MB", _num(app["bytes"] / 1e6), _num(raw["bytes"] / 1e6), ""])
    return rows


def _rss_line(doc: dict[str, Any]) -> str:
    rss = doc.get("rss_mb") or {}
    line = f"peak RSS: api {_num(rss.get('api'))} MB, worker {_num(rss.get('worker'))} MB"
    if rss.get("api_export") is not None:
        line += f"; api during the export {_num(rss['api_export'])} MB"
    return line


def _rate_limit_rows(doc: dict[str, Any]) -> list[list[str]]:
    """The ratelimit phase: rate and latency per configuration, and the costs; [] when not run."""
    found = doc.get("details", {}).get("ratelimit", {}).get("connections", {})
    rows: list[list[str]] = []
    for connections, by in found.items():
        rows.append([f"read c={connections}", "req/s", *[_num(by[c]["rate"], 0) for c in RATE_LIMIT_CONFIGS]])
        rows.append(
            ["", "p50 / p99 ms", *[_pair(by[c]["p50_ms"], by[c]["p99_ms"]) for c in RATE_LIMIT_CONFIGS]]
        )
        rows.append(
            ["", "cost (1 - rate / off)", "", _num(by["cost"]["memory"], 3), _num(by["cost"]["redis"], 3)]
        )
    return rows


RATE_LIMIT_HEADER = ["rate limiter", "figure", "off", "on, memory", "on, redis"]


def rate_limit_line(doc: dict[str, Any]) -> str | None:
    """One line: the tracked rate_limit_cost against its targets; None when not measured."""
    costs = doc.get("rate_limit_cost")
    if not costs:
        return None
    parts = []
    for storage, most in RATE_LIMIT_TARGETS.items():
        cost = costs.get(storage)
        met = "-" if cost is None else ("met" if cost <= most else "MISSED")
        parts.append(f"{storage} {_num(cost, 3)} (target <= {most:.2f}: {met})")
    return "rate limiter cost on GET /v1/assets/:id (worse of c=10, c=50): " + ", ".join(parts)


def _format(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def _machine(doc: dict[str, Any]) -> str:
    m = doc.get("machine", {})
    return f"{m.get('cores')} cores, {m.get('memory')}" + (f" ({m['cpu']})" if m.get("cpu") else "")


def table(doc: dict[str, Any]) -> str:
    rows, header, list_rows = _rows(doc)
    opts = doc.get("options", {})
    lines = [
        f"assetflow benchmark, {doc.get('date')}, {doc.get('mode')} mode, {_machine(doc)}",
        f"load generator: {doc.get('load_generator')}",
        f"medians of {opts.get('rounds')} rounds, {opts.get('duration_s')} s per measurement, "
        "sides alternated",
        "",
    ]
    if rows:
        lines += _format([["comparison", "figure", "assetflow", "raw stack", "ratio"], *rows])
        lines.append("")
    limited = _rate_limit_rows(doc)
    if limited:
        lines += _format([RATE_LIMIT_HEADER, *limited])
        lines.append(rate_limit_line(doc) or "")
        lines.append("")
    if list_rows:
        lines += _format([header, *list_rows])
        lines.append(f"(lists: {opts.get('list_connections')} connections, newest first, limit 20)")
        lines.append("")
    lines.append(_rss_line(doc))
    lines.append("")
    lines += _format(
        [["target", "measured", "goal", "met"]]
        + [
            [t["target"], t["measured"], t["goal"], {True: "yes", False: "MISSED", None: "-"}[t["met"]]]
            for t in doc.get("targets", targets(doc))
        ]
    )
    return "\n".join(lines)


def _md(rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows[1:]]
    return out


def markdown(doc: dict[str, Any]) -> str:
    rows, header, list_rows = _rows(doc)
    opts = doc.get("options", {})
    lines = [
        "# assetflow benchmark: latest results",
        "",
        f"- date: {doc.get('date')} ({doc.get('mode')} mode)",
        f"- machine: {_machine(doc)}",
        f"- command: `{doc.get('command')}`",
        f"- load generator: {doc.get('load_generator')}",
        f"- medians of {opts.get('rounds')} rounds, {opts.get('duration_s')} s per measurement, "
        "the two sides of each comparison alternated",
        "",
    ]
    if rows:
        lines += _md([["comparison", "figure", "assetflow", "raw stack", "ratio"], *rows])
        lines.append("")
    limited = _rate_limit_rows(doc)
    if limited:
        lines.append(
            "Rate limiter (the same read load on a fresh api process per measurement: limiting off, "
            "on in memory, on in Redis; budgets no request spends):"
        )
        lines.append("")
        lines += _md([RATE_LIMIT_HEADER, *limited])
        lines.append("")
        lines.append(f"- {rate_limit_line(doc)}")
        lines.append("")
    if list_rows:
        lines.append(f"Lists ({opts.get('list_connections')} connections; p50 / p99 ms):")
        lines.append("")
        lines += _md([header, *list_rows])
        lines.append("")
    lines.append(_rss_line(doc).replace("peak RSS", "Peak RSS", 1) + ".")
    lines.append("")
    lines += _md(
        [["target", "measured", "goal", "met"]]
        + [
            [t["target"], t["measured"], t["goal"], {True: "yes", False: "**missed**", None: "-"}[t["met"]]]
            for t in doc.get("targets", targets(doc))
        ]
    )
    return "\n".join(lines) + "\n"
