"""Small helpers shared by the suite and its helper processes: statistics, machine facts, /proc."""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULT_MARKER = "BENCH_JSON "

# An asset and its three projections, as the worker writes them: the lifecycle row, the
# depreciation row, and the audit entry with the audit consumer's record of applying it (its
# `processed_at` is when; the entry's own `at` is the event's time). Aliases a, l, d, au, p. The
# audit log's index on an asset leads with its organisation: without `au.org_id` each asset would
# scan the whole index.
PROJECTED_FROM = """FROM assets a
    LEFT JOIN asset_lifecycle l ON l.asset_id = a.id
    LEFT JOIN asset_depreciation d ON d.asset_id = a.id
    LEFT JOIN audit_log au ON au.org_id = a.org_id AND au.asset_id = a.id AND au.action = 'created'
    LEFT JOIN processed_events p ON p.consumer = 'audit' AND p.event_id = au.event_id"""


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not None; None when there are none."""
    present = [v for v in values if v is not None]
    return float(statistics.median(present)) if present else None


def ratio(app: float | None, raw: float | None) -> float | None:
    """The app's figure over the raw side's; None when either is missing (or the raw one is 0)."""
    return app / raw if app is not None and raw else None


def medians(runs: Sequence[dict[str, Any]], keys: Iterable[str]) -> dict[str, float | None]:
    """The median of each key over the runs."""
    return {key: median(run.get(key) for run in runs) for key in keys}


def shown(value: float | None, digits: int = 3) -> str:
    """A figure as text, "-" when not measured."""
    return "-" if value is None else f"{value:.{digits}f}"


@dataclass
class LoadResult:
    """One measurement: how many operations in how long, and their latency."""

    requests: int
    errors: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    generator: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["rate"] = round(self.rate, 1)
        return found


def latency_result(
    latencies_s: list[float], errors: int, duration_s: float, generator: str, **extra: Any
) -> LoadResult:
    """A LoadResult from raw latencies in seconds."""
    latencies_s.sort()
    return LoadResult(
        requests=len(latencies_s),
        errors=errors,
        duration_s=duration_s,
        p50_ms=percentile(latencies_s, 50) * 1000,
        p99_ms=percentile(latencies_s, 99) * 1000,
        generator=generator,
        extra=dict(extra),
    )


def emit(document: dict[str, Any]) -> None:
    """How a helper process hands its result back: one marked JSON line on stdout."""
    sys.stdout.write(RESULT_MARKER + json.dumps(document) + "\n")
    sys.stdout.flush()


def parse_emitted(stdout: str) -> dict[str, Any]:
    """The marked JSON line of a helper's output."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            found: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
            return found
    raise RuntimeError(f"no result line in the helper's output: {stdout[-2000:]!r}")


def machine() -> dict[str, Any]:
    """Cores, memory and CPU model of this machine."""
    memory_gib: float | None = None
    cpu_model: str | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {
        "cores": cores,
        "memory": f"{memory_gib} GiB" if memory_gib else None,
        "cpu": cpu_model,
        "load_average_1_5_15m": load,  # at the end of the run: other work on a shared machine
    }


def children_of(pid: int) -> list[int]:
    """Direct children of a process (from /proc)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            found.extend(int(c) for c in children)
    except OSError:
        pass
    return found


def service_process(pid: int, launcher: bool, timeout: float = 30.0) -> int:
    """The process that actually runs a service: under a launcher (`uv run`), its deepest
    descendant once it has one; otherwise the process itself."""
    if not launcher:
        return pid
    deadline = time.monotonic() + timeout
    while True:
        current = pid
        while kids := children_of(current):
            current = kids[0]
        if current != pid or time.monotonic() > deadline:
            return current
        time.sleep(0.02)


def _status_mb(pid: int, key: str) -> float | None:
    """One of the sizes in kB of /proc/<pid>/status, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return round(int(line.split()[1]) * 1024 / 1e6, 1)
    except OSError:
        return None
    return None


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident set size of a process in MB, from /proc/<pid>/status VmHWM (the kernel's own
    high-water mark; psutil has no peak figure on Linux, so it would add nothing here)."""
    return _status_mb(pid, "VmHWM:")


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process now, in MB (/proc/<pid>/status VmRSS)."""
    return _status_mb(pid, "VmRSS:")


def progress(message: str) -> None:
    """A progress line on stderr (overwritten in a terminal)."""
    end = "\r" if sys.stderr.isatty() else "\n"
    sys.stderr.write(f"\x1b[2K{message}{end}" if sys.stderr.isatty() else f"{message}{end}")
    sys.stderr.flush()


def log(message: str) -> None:
    """A line of the suite's narration on stderr."""
    if sys.stderr.isatty():
        sys.stderr.write("\x1b[2K")
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()
