"""The benchmark suite's smoke mode, so that it cannot rot: it runs end to end against the real
PostgreSQL and RabbitMQ (its own database and broker names, removed afterwards) and writes every
key of latest.json. No performance figure is asserted: this machine is shared and noisy."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

NEEDS = (
    "The benchmark smoke test needs a real PostgreSQL and RabbitMQ: set DATABASE_URL (a server where "
    "it may create a database, e.g. postgresql://postgres@127.0.0.1:5432/postgres) and AMQP_URL "
    "(e.g. amqp://guest:guest@127.0.0.1:5672/)."
)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    database_url = os.environ.get("DATABASE_URL")
    amqp_url = os.environ.get("AMQP_URL")
    if not database_url or not amqp_url:
        pytest.fail(NEEDS, pytrace=False)
    out = tmp_path_factory.mktemp("bench-results")
    env = {**os.environ, "DATABASE_URL": database_url, "AMQP_URL": amqp_url}
    # The Python load generator, as on a CI machine without wrk.
    command = [sys.executable, "-m", "bench", "--smoke", "--loadgen", "python", "--output-dir", str(out)]
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, f"the smoke run failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    assert "target" in done.stdout  # the table
    assert (out / "latest.md").read_text().startswith("# assetflow benchmark")
    results: dict[str, Any] = json.loads((out / "latest.json").read_text())
    return results


@pytest.mark.timeout(300)
def test_smoke_run_writes_every_key_with_sane_types(smoke_results: dict[str, Any]) -> None:
    doc = smoke_results
    for key in ("read_ratio", "write_ratio", "pipeline_ratio", "e2e_p99_ms", "deep_page_p99_ms"):
        assert _number(doc[key]) and doc[key] >= 0, key
    for key in ("webhook_ratio", "webhook_deliveries_per_s", "webhook_p50_ms", "webhook_p99_ms"):
        assert _number(doc[key]) and doc[key] > 0, key
    for key in ("import_ratio", "drain_ratio", "export_ratio"):
        assert _number(doc[key]) and doc[key] > 0, key
    for key in ("import_rows_per_s", "drain_assets_per_s", "export_rows_per_s"):
        assert _number(doc[key]) and doc[key] > 0, key
    assert isinstance(doc["list_p99_ms"], dict) and doc["list_p99_ms"]
    for size, p99 in doc["list_p99_ms"].items():
        assert int(size) > 0 and _number(p99) and p99 > 0
    assert set(doc["rss_mb"]) == {"api", "worker", "api_export"}
    assert all(_number(v) and v > 0 for v in doc["rss_mb"].values())
    assert isinstance(doc["machine"]["cores"], int) and doc["machine"]["cores"] > 0
    assert isinstance(doc["machine"]["memory"], str)
    assert isinstance(doc["date"], str) and doc["date"][:4].isdigit()
    assert doc["mode"] == "smoke"
    assert {"webhooks", "import", "drain", "export"} <= set(doc["options"]["phases"])
    assert all({"target", "measured", "goal", "met"} <= set(t) for t in doc["targets"])


@pytest.mark.timeout(300)
def test_smoke_run_measures_both_sides_of_each_comparison(smoke_results: dict[str, Any]) -> None:
    details = smoke_results["details"]
    for connections in ("10", "50"):
        assert details["read"][connections]["app"]["rate"] > 0
        assert details["read"][connections]["raw"]["rate"] > 0
    assert details["write"]["10"]["app"]["rate"] > 0 and details["write"]["10"]["raw"]["rate"] > 0
    assert details["pipeline"]["app"]["max_rate"] > 0 and details["pipeline"]["raw"]["max_rate"] > 0
    hooks = details["webhooks"]
    assert hooks["app"]["count"] > 0 and hooks["app"]["rate"] > 0 and hooks["raw"]["rate"] > 0
    imported, drain, export = details["import"], details["drain"], details["export"]
    assert isinstance(imported["rows"], int) and imported["rows"] > 0
    assert imported["app"]["rate"] > 0 and imported["raw"]["rate"] > 0
    assert all(r["raw"]["rows"] == imported["rows"] for r in imported["rounds"])
    assert drain["app"]["rate"] > 0 and drain["raw"]["rate"] > 0
    assert all(
        _number(drain["app"][f"{stage}_s"]) for stage in ("relay", "lifecycle", "depreciation", "audit")
    )
    assert isinstance(export["rows"], int) and export["rows"] > 0
    assert export["app"]["rate"] > 0 and export["raw"]["rate"] > 0
    assert export["app"]["bytes"] > 0 and export["raw"]["bytes"] > 0
    assert _number(export["api_rss_mb"]) and export["api_rss_mb"] > 0
    cases = next(iter(details["list"].values()))
    assert {"v1 no filter", "v1 status+kind", "v1 q name fragment", "v2 ordering=-created_date"} <= set(cases)
    assert all(case["errors"] == 0 for case in cases.values())
