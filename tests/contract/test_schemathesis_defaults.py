"""Schemathesis with default settings finds only what JSON Schema cannot say, and the README lists it.

The run itself (`schemathesis run …/openapi.json --checks all`, every other setting at its
default, against an `assetflow api` process of its own) starts with the session and goes on beside
the rest of the suite (tests/schemathesis_defaults.py); this test runs last and reads it. Beside
it, tests/contract/test_schemathesis.py is the project's own run: seeded, bounded and phase by
phase, with the same kinds of findings excused there.
"""

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.schemathesis_defaults import DefaultRun

README = Path(__file__).resolve().parents[2] / "README.md"
# The run takes about 100 s alone on this kind of machine, and longer beside the suite; sized for
# a machine several times slower.
RUN_DEADLINE = 1200.0


@dataclass(frozen=True)
class Inexpressible:
    """One kind of rule JSON Schema cannot state, as an answer says it, and as the README names it."""

    name: str  # the README's words for it
    problem: re.Pattern[str]  # one problem of the answer, as `field: message` or `detail: …`


# A member of any name (spaces, controls), however deep, of one asset or of a bulk change's item.
_CUSTOM = r"(data\[\d+\]\.)?(custom_fields|template\.fields)\..*"
# Each a rule of the server that no schema can state, so schemathesis sends a request the
# document allows and the server refuses: the README's "What the document cannot say".
KINDS = (
    Inexpressible(
        "an ETag that is not the object's current one",
        re.compile(r"^detail: .* has changed since the version If-Match names"),
    ),
    Inexpressible(
        "an Idempotency-Key used before with another request",
        re.compile(r"^detail: This Idempotency-Key was used for another request"),
    ),
    Inexpressible(
        "an id that names no object of the organisation",
        re.compile(r"^\S+: no [\w ]+ with id .* in this organisation$"),
    ),
    Inexpressible(
        "a cursor the API did not give out", re.compile(r"^cursor: is not a cursor this API gave out$")
    ),
    Inexpressible(
        "`custom_form_value` without `custom_form_name`",
        re.compile(r"^custom_form_value: needs custom_form_name$"),
    ),
    Inexpressible(
        "the unique field names of a custom form", re.compile(r"^\S*fields: field names must be unique$")
    ),
    Inexpressible(
        "custom fields that are not the asset's form's",
        re.compile(
            rf"^{_CUSTOM}: (is not a field of the asset's custom form|must be [\w ()-]+ or null$)", re.DOTALL
        ),
    ),
    Inexpressible(
        "a contract's end before its start", re.compile(r"^end_date: must not be before start_date")
    ),
    Inexpressible(
        "a depreciation schedule ending after 9999-12-31",
        re.compile(r"^(purchase_date|service_start_date): is too late for the \S+ depreciation schedule"),
    ),
    Inexpressible(
        "numbers and NULs deep inside custom fields",
        re.compile(
            r"^(data\[\d+\]\.)?(custom_fields|template\.fields): holds a number out of range at "
            rf"|^{_CUSTOM}: must not contain NUL \(\\u0000\)$",
            re.DOTALL,
        ),
    ),
    Inexpressible(
        "the same asset twice in a bulk change", re.compile(r"^data\[\d+\]\.id: names the same asset as")
    ),
    Inexpressible(
        "a webhook URL whose host does not resolve",
        re.compile(
            r"^url: (its host \S+ does not resolve|must reach a public address: |is not a valid URL \("
            r"|must name a host$|must not name port 0$"
            r"|must be an https URL \(plain http only when WEBHOOK_ALLOW_HTTP=true\)$)"
        ),
    ),
    Inexpressible(
        "a webhook's `events` pattern that matches no event type",
        re.compile(r"^events\[\d+\]: matches no event type; the event types are "),
    ),
    Inexpressible(
        "an import's file that is not CSV or NDJSON of assets",
        re.compile(r"^import: (detail: The (file|header) |code: IMPORT_REJECTED)"),
    ),
)


@dataclass(frozen=True)
class Finding:
    """One failed check of the run, and the answer it failed on, in full."""

    code: str
    operation: str
    status: int
    body: str
    uri: str

    def misfit_link(self) -> bool:
        """Schemathesis's stateful phase fills parameters from earlier answers by name, and so can
        put a v1 id into a v2 integer parameter of the same name (`custom_form_id`): the request
        does not fit the document, and its 400 is no finding."""
        problems = problems_of(self.body)
        query = parse_qs(urlsplit(self.uri).query)
        return bool(problems) and all(
            (name := problem.split(": ", 1)[0]) in query
            and problem.endswith(": must be a whole number, written in digits")
            and not all(re.fullmatch(r"-?\d+", value) for value in query[name])
            for problem in problems
        )


def findings(events: Path) -> list[Finding]:
    """Every failed check of a run, from its NDJSON events."""
    found = []
    for line in events.read_text().splitlines():
        event = json.loads(line)
        recorder = event.get("ScenarioFinished", {}).get("recorder")
        if not recorder:
            continue
        for case_id, checks in recorder.get("checks", {}).items():
            for check in checks:
                if check["status"] != "failure":
                    continue
                failure = check["failure_info"]["failure"]
                interaction = recorder.get("interactions", {}).get(case_id) or {}
                request, response = interaction.get("request") or {}, interaction.get("response") or {}
                content = (response.get("content") or {}).get("$base64", "")
                body = base64.b64decode(content).decode(errors="replace")
                status = response.get("status_code", 0)
                found.append(
                    Finding(failure["code"], failure["operation"], status, body, request.get("uri", ""))
                )
    return found


def problems_of(body: str) -> list[str]:
    """The problems an answer names, each `field: message` (v1 `errors`, v2 {field: [messages]}) or
    `detail: …`; an import's own answers as `import: …`."""
    try:
        found = json.loads(body)
    except ValueError:
        return [f"body: {body}"]
    if not isinstance(found, dict):
        return [f"body: {body}"]
    if found.get("instance") == "/v1/assets/import" and found.get("code") == "IMPORT_REJECTED":
        return ["import: code: IMPORT_REJECTED"]
    if found.get("instance") == "/v1/assets/import" and str(found.get("detail")).startswith(
        ("The file", "The header")
    ):
        return [f"import: detail: {found['detail']}"]
    if isinstance(found.get("errors"), list):
        return [f"{e.get('field')}: {e.get('message')}" for e in found["errors"] if isinstance(e, dict)]
    if "detail" in found:
        return [f"detail: {found['detail']}"]
    return [
        f"{name}: {message}"
        for name, messages in found.items()
        for message in (messages if isinstance(messages, list) else [messages])
    ]


def kinds_of(body: str) -> set[Inexpressible] | None:
    """The kinds of every problem of an answer; None when any problem is of no listed kind."""
    kinds = set()
    for problem in problems_of(body):
        kind = next((k for k in KINDS if k.problem.search(problem)), None)
        if kind is None:
            return None
        kinds.add(kind)
    return kinds or None


@pytest.mark.run_last
@pytest.mark.timeout(RUN_DEADLINE + 60)
async def test_schemathesis_with_default_settings_finds_only_what_the_readme_lists(
    schemathesis_defaults: DefaultRun,
) -> None:
    run = schemathesis_defaults
    assert run.problem is None, run.problem  # the run could not be set up
    code = await run.finished(RUN_DEADLINE)
    log = run.log.read_text(errors="replace")
    report = json.loads(run.report.read_text())
    assert report["complete"], log[-3000:]
    assert not report["errors"], report["errors"]
    # It ran for real: every operation, thousands of cases, and answers accepted across the API
    # (a token that did not work would have every case refused, and no finding).
    operations = report["operations"]
    assert operations["tested"] == operations["selected"] == operations["total"] > 100, operations
    assert report["test_cases"]["generated"] > 1000, report["test_cases"]
    accepted = {
        operation
        for operation, phases in report["valid_rates"].items()
        if any(rates.get("accepted", 0) for rates in phases.values())
    }
    assert len(accepted) > operations["total"] // 2, sorted(set(report["valid_rates"]) - accepted)
    found = findings(run.events)
    # Every failure is a schema-valid request rejected (ST202): no 5xx, no answer outside its
    # schema, no undocumented status or header, no accepted invalid data, nothing else.
    assert {f.code for f in found} <= {"ST202"}, [f for f in found if f.code != "ST202"][:5]
    assert {f["code"] for f in report["failures"]} == {f.code for f in found}
    assert code == (1 if found else 0), log[-3000:]
    found = [f for f in found if not f.misfit_link()]
    unexplained = [f"{f.operation} [{f.status}] {f.body[:400]}" for f in found if kinds_of(f.body) is None]
    seed = re.search(r"^Seed: (\d+)", log, re.MULTILINE)
    again = f"(again: schemathesis run … --seed {seed.group(1)})" if seed else ""
    assert not unexplained, f"findings the README does not list {again}:\n" + "\n".join(unexplained)
    readme = README.read_text()
    for kind in set().union(*(kinds_of(f.body) or set() for f in found)):
        assert kind.name in readme, f"the README does not list {kind.name!r}"


def test_every_kind_is_recognised_and_nothing_else() -> None:
    assert kinds_of('{"detail":"The vendor has changed since the version If-Match names, and …"}')
    v1 = '{"code":"VALIDATION_ERROR","errors":[{"field":"%s","message":"%s"}]}'
    assert kinds_of(v1 % ("vendor_id", "no vendor with id '7' in this organisation"))
    assert kinds_of('{"template.fields.size":["must be an integer or null"]}')
    nul = "must not contain NUL (\\\\u0000)"  # as JSON writes the text `(\\u0000)`
    assert kinds_of(v1 % ("custom_fields.a[0]", nul))
    assert kinds_of(v1 % ("data[5].custom_fields.[0].x", nul))
    assert kinds_of('{"template.fields.x\\u00a0y[1].p: \\u0010\\\\u0000 ":["' + nul + '"]}')
    assert kinds_of('{"instance":"/v1/assets/import","code":"IMPORT_REJECTED","detail":"2 problems"}')
    assert kinds_of(v1 % ("url", "its host 0aB.example does not resolve"))
    assert kinds_of(
        v1 % ("url", "must reach a public address: its host 0 resolves to 0.0.0.0, the unspecified")
    )
    assert kinds_of(v1 % ("events[2]", "matches no event type; the event types are asset.created"))
    assert kinds_of(v1 % ("url", "must be an https URL (plain http only when WEBHOOK_ALLOW_HTTP=true)"))
    assert kinds_of(v1 % ("url", "is not a valid URL (Invalid IPv6 URL)"))
    assert kinds_of(v1 % ("url", "must name a host"))
    assert kinds_of(v1 % ("url", "must not carry a user name or password")) is None  # the pattern says so
    # A NUL where the document says no string holds one, or any other rule, is a finding.
    assert kinds_of(v1 % ("name", nul)) is None
    assert kinds_of(v1 % ("name", "must not be blank")) is None
    assert kinds_of('{"detail":"Something went wrong on our side"}') is None
    assert (
        kinds_of('{"name":["must not be blank"],"vendor":["no vendor with id 7 in this organisation"]}')
        is None
    )
    misfit = '{"custom_form_id":["must be a whole number, written in digits"]}'
    assert Finding(
        "ST202", "GET /api/v2/asset/", 400, misfit, "http://h/api/v2/asset/?custom_form_id=ab-1"
    ).misfit_link()
    assert not Finding(
        "ST202", "GET /api/v2/asset/", 400, misfit, "http://h/api/v2/asset/?custom_form_id=12"
    ).misfit_link()
    # Every kind is one the README lists.
    readme = README.read_text()
    assert [kind.name for kind in KINDS if kind.name not in readme] == []
