"""Schemathesis against the app's own /openapi.json, with every check it has.

The app runs in the test loop (the `client` fixture serves it on a real socket), so schemathesis's
engine (the one behind `schemathesis run`), which sends blocking HTTP requests, runs in a worker
thread while the loop keeps serving. Every phase runs (examples, coverage, fuzzing, stateful), each
as a test of its own (coverage and fuzzing once per dialect) with a deadline sized from its own
measured duration, with all the checks (server errors, response schema, status codes, content
types, headers, positive and negative data, auth, use after free, …). Each run is bounded
(MAX_EXAMPLES per operation, a step limit for the stateful phase) and reproducible (a fixed seed,
deterministic generation, no cache). Every failure is reported with the response and the curl line
that reproduces it.
"""

import asyncio
import copy
import json
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import asyncpg
import jsonschema_rs
import pytest
import schemathesis
from aiohttp.test_utils import TestClient
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.engine import Status, events, from_schema
from schemathesis.openapi.checks import RejectedPositiveData

from shared.services import organisations
from shared.services.unit_of_work import unit_of_work
from tests.conftest import Tenant, served_openapi

SEED = 20_260_101
MAX_EXAMPLES = 25
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
PHASES = ("examples", "coverage", "fuzzing", "stateful")
# The operations of one run: a regex over paths (the v2 dialect, or everything else), or all.
V2_PATHS = r"^/api/v2/"
DIALECTS: dict[str, tuple[str | None, bool]] = {
    "all": (None, True),
    "v1": (V2_PATHS, False),
    "v2": (V2_PATHS, True),
}

# --- known schemathesis false positives ----------------------------------------------------------
#
# `positive_data_acceptance` sends requests the OpenAPI document allows and expects them accepted.
# A few rules of the API cannot be written in JSON Schema at all, so a schema-valid request may be
# rightly refused with a 400 (the README documents the first two). Only such a 400 is dropped, and only when
# *every* problem it names is one of these; any other rejection, and every other check, still fails:
#
# - ids of other objects must name an object of the caller's organisation ("Ids of other objects
#   must belong to the caller's organisation; any other id is a 400 naming the field"): whether an
#   object exists is not a property of the request;
# - a `cursor` must be one the API gave out: cursors are opaque;
# - the field names of a custom form must be unique: JSON Schema's uniqueItems compares whole items,
#   it cannot say "unique by one property";
# - v2 `custom_form_value` needs `custom_form_name` beside it: OpenAPI cannot make one parameter
#   depend on another;
# - `custom_fields` may hold only the fields of the asset's custom form, each of its type: forms are
#   made at run time, so the document can only say "an object";
# - a contract's end_date must not be before its start_date: JSON Schema cannot compare two
#   members (and a PATCH of one date is held against the stored other);
# - no string may hold U+0000, which PostgreSQL text cannot store: the API answers it with a clean
#   400 naming it. Schemathesis's own answer to this is its `generation.allow-x00 = false` option;
#   dropping only that 400 is narrower, since NULs are still sent and any 500 they cause still fails;
# - the numbers of `custom_fields`, however deeply nested, must be finite and within the 64-bit
#   range: the document states the bounds for the outermost level only (client generators cannot
#   read a recursive schema; see CUSTOM_VALUE_RULE), so a deeper number out of range is refused;
# - the items of a bulk PATCH must name different assets: uniqueItems compares whole items, it
#   cannot say "unique by id" (the ids of a bulk DELETE are plain strings, and the document says
#   uniqueItems for them);
# - a webhook's URL must have a host that resolves, only to public addresses (unless the server
#   allows private networks), on a port from 1 to 65535, read by Python's URL parser, and be https
#   unless the server allows plain http: resolution is the network's state, the scheme the
#   server's settings, and the rest beyond a readable regex;
# - each of a webhook's `events` must match at least one event type: by choice, as a regex could
#   list every pattern that does, but not readably.
_REFERENCE = re.compile(r"^no [\w ]+ with id .* in this organisation$", re.DOTALL)
_UNKNOWN_CURSOR = ("cursor", "is not a cursor this API gave out")
_UNIQUE_NAMES = "field names must be unique"
_PARAMETER_DEPENDENCY = ("custom_form_value", "needs custom_form_name")
_CUSTOM_FIELDS = ("custom_fields.", "template.fields.")  # the v1 and the v2 name
_CUSTOM_FIELD = re.compile(
    r"^is not a field of the asset's custom form \(its fields: .*\)$|^must be [\w ()-]+ or null$", re.DOTALL
)
_DATES_IN_ORDER = re.compile(r"^must not be before start_date \(\d{4}-\d{2}-\d{2}\)$")
_NUL = "must not contain NUL (\\u0000)"
_NUMBER_OUT_OF_RANGE = re.compile(r"^holds a number out of range at .+: numbers must be finite", re.DOTALL)
_SAME_ASSET = re.compile(r"^names the same asset as data\[\d+\]$")
_NUL_IN_QUERY = "must not contain NUL characters"
_WEBHOOK_URL = re.compile(
    r"^(its host \S+ does not resolve|must reach a public address: |must be an https URL \(plain http"
    r"|is not a valid URL \(|must name a host$|must not name port 0$)"
)
_NO_EVENT_TYPE = re.compile(r"^matches no event type; the event types are ")


def _problems(body: Any) -> list[tuple[str, str]]:
    """(field, message) pairs of a 400 in either dialect: v1 problem documents, v2 {field: [messages]}."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return [(str(e.get("field")), str(e.get("message"))) for e in body["errors"] if isinstance(e, dict)]
    if isinstance(body, dict) and body and "detail" not in body:
        return [
            (str(name), str(message))
            for name, messages in body.items()
            for message in (messages if isinstance(messages, list) else [messages])
        ]
    return []


def _inexpressible(problem: tuple[str, str]) -> bool:
    field_name, message = problem
    return (
        bool(_REFERENCE.match(message))
        or (field_name.startswith(_CUSTOM_FIELDS) and bool(_CUSTOM_FIELD.match(message)))
        or (field_name == "end_date" and bool(_DATES_IN_ORDER.match(message)))
        or (field_name.startswith("data[") and bool(_SAME_ASSET.match(message)))
        or (field_name == "url" and bool(_WEBHOOK_URL.match(message)))
        or (field_name.startswith("events[") and bool(_NO_EVENT_TYPE.match(message)))
        or (
            field_name.endswith(("custom_fields", "template.fields"))
            and bool(_NUMBER_OUT_OF_RANGE.match(message))
        )
        or problem in (_UNKNOWN_CURSOR, _PARAMETER_DEPENDENCY)
        or message in (_UNIQUE_NAMES, _NUL, _NUL_IN_QUERY)
    )


# - the file of an import must be CSV (or NDJSON) of v1 asset fields: the document can only say
#   "a string of bytes", so a random one is rightly refused, as a file (400) or by its rows (422).
_IMPORT = "/v1/assets/import"
_FILE_PROBLEM = re.compile(r"^The (file|header) ")


# - a write's If-Match must name the object's current version, and a used Idempotency-Key must come
#   with the same request again: both are state (the object's version and the key's first request
#   now), not properties of the request. Only a 412 or 422 that says exactly that is dropped.
_STALE = "has changed since the version If-Match names"
_KEY_REUSED = "Idempotency-Key was used for another request"


def false_positive(failure: Exception, status: int, content: bytes) -> bool:
    """Whether a failure is one of the known false positives above."""
    if not isinstance(failure, RejectedPositiveData) or status not in (400, 412, 422):
        return False
    try:
        body = json.loads(content)
    except ValueError:
        return False
    detail = str(body.get("detail")) if isinstance(body, dict) else ""
    if status == 412:
        return _STALE in detail
    if status == 422 and _KEY_REUSED in detail:
        return True
    if isinstance(body, dict) and body.get("instance") == _IMPORT:
        return (status == 422 and body.get("code") == "IMPORT_REJECTED") or (
            status == 400 and bool(_FILE_PROBLEM.match(str(body.get("detail"))))
        )
    problems = _problems(body) if status == 400 else []
    return bool(problems) and all(_inexpressible(p) for p in problems)


def linked_misfit(spec: dict[str, Any], failure: Exception, case: Any) -> bool:
    """The stateful phase fills parameters from earlier responses by name, and so can put a v1
    string id into a v2 integer parameter of the same name (`custom_form_id`). Such a request does
    not fit the document, so its rejection is no failure of `positive_data_acceptance`."""
    if not isinstance(failure, RejectedPositiveData):
        return False
    operation = spec["paths"].get(case.path, {}).get(case.method.lower(), {})
    for parameter in operation.get("parameters", []):
        value = (case.query or {}).get(parameter["name"])
        schema = parameter.get("schema", {})
        kinds = {schema.get("type")} | {k.get("type") for k in schema.get("anyOf", [])}
        if value is not None and "integer" in kinds and not re.fullmatch(r"-?\d+", str(value)):
            return True
    return False


def _component(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """What a `$ref` names (`#/components/schemas/…`, `#/components/headers/…`), or the schema itself."""
    ref = schema.get("$ref", "")
    if not ref:
        return schema
    _, _, kind, name = ref.split("/")
    found: dict[str, Any] = spec["components"][kind][name]
    return found


def read_only_sent_back(spec: dict[str, Any], failure: Exception, case: Any) -> bool:
    """A write may send back the read-only members of a read (`id`, the v2 asset's dates, …): they
    are ignored, as the README says, so that a client can PUT what it GETs. Schemathesis counts
    them as invalid data, and its own allowance for them fails when it also mutated a `pattern`
    its optimiser rewrote (it turns the unanchored `\\S` with a length into `^\\S{1,255}$`, so
    "a b" looks invalid). Such an accepted request is no failure of `negative_data_rejection` when,
    read-only members taken out, it fits the document itself."""
    if not isinstance(failure, AcceptedNegativeData) or not isinstance(case.body, dict):
        return False
    operation = spec["paths"].get(case.path, {}).get(case.method.lower(), {})
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return False
    properties = _component(spec, schema).get("properties", {})
    read_only = {name for name, member in properties.items() if member.get("readOnly")}
    if not read_only & set(case.body):
        return False
    rest = {name: value for name, value in case.body.items() if name not in read_only}
    try:
        return bool(jsonschema_rs.validator_for({**schema, "components": spec["components"]}).is_valid(rest))
    except Exception:  # a value the validator cannot read (a lone surrogate): not provably fine
        return False


# --- running schemathesis ------------------------------------------------------------------------


@dataclass
class Report:
    """What a schemathesis run found."""

    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dropped: int = 0
    operations: set[str] = field(default_factory=set)
    checks_run: set[str] = field(default_factory=set)
    failed_checks: set[str] = field(default_factory=set)
    # The operations the cases called, and how many cases a link between operations made.
    called: set[str] = field(default_factory=set)
    linked: int = 0

    def text(self) -> str:
        return "\n\n".join(self.failures + self.errors)


def _config(base_url: str, token: str, phases: tuple[str, ...]) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            "headers": {"Authorization": f"Bearer {token}"},
            "workers": 1,
            "request-timeout": 10,
            # No state carried between runs (and no .schemathesis/ directory in the work tree).
            "cache": {"enabled": False},
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
            # Every check schemathesis has, not only not_a_server_error.
            "checks": {"enabled": True},
            "phases": {
                "examples": {"enabled": "examples" in phases},
                "coverage": {"enabled": "coverage" in phases},
                "fuzzing": {"enabled": "fuzzing" in phases},
                "stateful": {"enabled": "stateful" in phases, "max-steps": 20},
            },
        }
    )


def _clip(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


def _describe(label: str, phase: str, check: Any, recorder: Any, case_id: str) -> str:
    info = check.failure_info
    failure = info.failure
    interaction = recorder.interactions.get(case_id)
    got = ""
    if interaction is not None and interaction.response is not None:
        response = interaction.response
        got = f"Got {response.status_code}: {response.content.decode('utf-8', 'replace')}\n"
    return (
        f"[{phase}] {label} — {check.name}: {failure.title}\n{failure.message}\n"
        f"{_clip(got, 600)}Reproduce with:\n{_clip(info.code_sample)}"
    )


def run_schemathesis(
    spec: dict[str, Any], base_url: str, token: str, phases: tuple[str, ...] = PHASES, dialect: str = "all"
) -> Report:
    """Run these phases of schemathesis, with every check, against the live server (blocking)."""
    schema: schemathesis.BaseSchema = schemathesis.openapi.from_dict(
        spec, config=_config(base_url, token, phases)
    )
    paths, included = DIALECTS[dialect]
    if paths is not None:
        schema = schema.include(path_regex=paths) if included else schema.exclude(path_regex=paths)
    report = Report()

    def filter_failure(context: Any, failure: Exception, case: Any, response: Any) -> bool:
        if (
            false_positive(failure, response.status_code, response.content)
            or linked_misfit(spec, failure, case)
            or read_only_sent_back(spec, failure, case)
        ):
            report.dropped += 1
            return False
        return True

    schema.hook(filter_failure)

    seen: set[tuple[str, str, str]] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            report.operations.add(recorder.label)
            for node in recorder.cases.values():
                report.called.add(node.value.operation.label)
                report.linked += node.is_transition_applied
            for case_id, case_checks in recorder.checks.items():
                for check in case_checks:
                    if check.status is Status.SKIP:
                        continue
                    report.checks_run.add(check.name)
                    if check.status is not Status.FAILURE or check.failure_info is None:
                        continue
                    report.failed_checks.add(check.name)
                    key = (recorder.label, check.name, check.failure_info.failure.title)
                    if key not in seen:
                        seen.add(key)
                        report.failures.append(
                            _describe(recorder.label, event.phase.value, check, recorder, case_id)
                        )
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"error in {event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {event.exception!r}")
    return report


def _base_url(client: TestClient) -> str:
    return str(client.make_url("/")).rstrip("/")


def _operations(spec: dict[str, Any], dialect: str = "all") -> set[str]:
    paths, included = DIALECTS[dialect]
    return {
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS and (paths is None or bool(re.match(paths, path)) == included)
    }


# --- the tests ------------------------------------------------------------------------------------


CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
}

# One test per phase (coverage and fuzzing once per dialect, their two costliest phases), each with
# a deadline of about six times its duration measured on the 2-core development machine (under the
# load of other test runs), so that a machine twice as slow still has three times its duration:
# examples 2-3 s, coverage v1 11-18 s and v2 24-36 s, fuzzing v1 16-30 s and v2 13-23 s,
# stateful 5-7 s (eight runs, `pytest tests/contract --durations=10`; all of them in one test took
# 85 s here and overran its 120 s on a slower machine).
RUNS = [
    pytest.param("examples", "all", marks=pytest.mark.timeout(30), id="examples"),
    pytest.param("coverage", "v1", marks=pytest.mark.timeout(130), id="coverage-v1"),
    pytest.param("coverage", "v2", marks=pytest.mark.timeout(220), id="coverage-v2"),
    pytest.param("fuzzing", "v1", marks=pytest.mark.timeout(200), id="fuzzing-v1"),
    pytest.param("fuzzing", "v2", marks=pytest.mark.timeout(160), id="fuzzing-v2"),
    pytest.param("stateful", "all", marks=pytest.mark.timeout(60), id="stateful"),
]


def _with_examples(spec: dict[str, Any], node: Any, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a part of the document (following its references) gives an example."""
    if isinstance(node, list):
        return any(_with_examples(spec, item, seen) for item in node)
    if not isinstance(node, dict):
        return False
    if "example" in node or "examples" in node:
        return True
    ref = node.get("$ref")
    if isinstance(ref, str) and ref not in seen:
        return _with_examples(spec, _component(spec, node), seen | {ref})
    return any(_with_examples(spec, value, seen) for value in node.values())


async def _assets_token(pool: asyncpg.Pool, tenant: Tenant) -> str:
    """A token without the webhooks scopes: a fuzzed webhook would make the worker POST to whatever
    address the fuzzer wrote (the session allows private networks and plain http), so the webhook
    routes answer 403 here; tests/e2e/test_webhooks.py covers them against a receiver of its own."""
    _, token = await organisations.create_token(
        unit_of_work(pool), tenant.name, ["assets:read", "assets:write"]
    )
    return token


@pytest.mark.parametrize(("phase", "dialect"), RUNS)
async def test_api_conforms_to_its_openapi_document(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool, phase: str, dialect: str
) -> None:
    spec = await served_openapi(client)
    token = await _assets_token(pool, tenant)
    report = await asyncio.to_thread(run_schemathesis, spec, _base_url(client), token, (phase,), dialect)
    # The run really exercised the API: the operations the phase is for, with the checks that matter.
    operations = _operations(spec, dialect)
    if phase == "stateful":  # one scenario of linked calls, through both dialects
        assert report.linked, "the stateful phase followed no link"
        assert {label.split()[1].startswith("/api/v2/") for label in report.called} == {True, False}
    elif phase == "examples":  # the operations whose document gives an example
        given = {
            f"{method.upper()} {path}"
            for path, item in spec["paths"].items()
            for method, operation in item.items()
            if _with_examples(spec, operation)
        }
        assert given, "the document gives no example at all"
        assert given <= report.called, f"examples not sent: {sorted(given - report.called)}"
    else:
        missing = operations - report.called
        assert not missing, f"operations schemathesis did not test: {sorted(missing)}"
    assert report.called <= operations, sorted(report.called - operations)
    assert CHECKS <= report.checks_run, report.checks_run
    assert not report.failures and not report.errors, (
        f"schemathesis found {len(report.failures)} failure(s) and {len(report.errors)} error(s) "
        f"({report.dropped} known false positive(s) dropped; "
        f"checks run: {', '.join(sorted(report.checks_run))}):\n\n" + report.text()
    )


def test_the_runs_cover_every_phase_and_operation() -> None:
    """Split as it is, the contract test still runs every phase over every operation."""
    runs = [param.values for param in RUNS]
    assert {phase for phase, _ in runs} == set(PHASES)
    for phase in ("coverage", "fuzzing"):
        assert {dialect for p, dialect in runs if p == phase} in ({"all"}, {"v1", "v2"}), phase
    spec: dict[str, Any] = {"paths": {"/v1/assets": {"get": {}}, "/api/v2/asset/": {"get": {}, "post": {}}}}
    assert _operations(spec, "v1") | _operations(spec, "v2") == _operations(spec, "all")
    assert not _operations(spec, "v1") & _operations(spec, "v2")


def test_false_positive_filter_is_narrow() -> None:
    rejected = RejectedPositiveData(
        operation="POST /v1/models", message="m", status_code=400, allowed_statuses=["2xx"]
    )
    reference = {
        "type": "https://assetflow.dev/problems/validation-error",
        "status": 400,
        "errors": [{"field": "asset_type_id", "message": "no asset type with id '0' in this organisation"}],
    }
    assert false_positive(rejected, 400, json.dumps(reference).encode())
    assert false_positive(rejected, 400, b'{"vendor": ["no vendor with id 7 in this organisation"]}')
    cursor = {"errors": [{"field": "cursor", "message": "is not a cursor this API gave out"}]}
    assert false_positive(rejected, 400, json.dumps(cursor).encode())
    nul = {"errors": [{"field": "custom_fields.a[0]", "message": "must not contain NUL (\\u0000)"}]}
    assert false_positive(rejected, 400, json.dumps(nul).encode())
    assert false_positive(rejected, 400, b'{"fields": ["field names must be unique"]}')
    unknown_field = "is not a field of the asset's custom form (its fields: none)"
    custom = {"errors": [{"field": "custom_fields.x\u00ad", "message": unknown_field}]}
    assert false_positive(rejected, 400, json.dumps(custom).encode())
    assert false_positive(rejected, 400, b'{"template.fields.size": ["must be an integer or null"]}')
    order = "must not be before start_date (2025-01-01)"
    assert false_positive(rejected, 400, json.dumps({"end_date": [order]}).encode())
    assert not false_positive(rejected, 400, json.dumps({"start_date": [order]}).encode())
    # Anything else stays a failure: another message, one more problem, another status or check.
    assert not false_positive(rejected, 400, b'{"errors": [{"field": "name", "message": "too long"}]}')
    mixed = {"errors": [*reference["errors"], {"field": "name", "message": "too long"}]}  # type: ignore[misc]
    assert not false_positive(rejected, 400, json.dumps(mixed).encode())
    assert not false_positive(rejected, 500, json.dumps(reference).encode())
    assert not false_positive(rejected, 400, b"not json")
    # The custom-form messages count only on custom fields.
    wrong_type = {"errors": [{"field": "name", "message": "must be a string or null"}]}
    assert not false_positive(rejected, 400, json.dumps(wrong_type).encode())
    assert not false_positive(rejected, 400, b'{"detail": "no vendor with id 7 in this organisation"}')
    assert not false_positive(AssertionError("other check"), 400, json.dumps(reference).encode())
    # A stale If-Match and a key used before with another request are state, in both dialects.
    stale = "The asset has changed since the version If-Match names, and nothing was changed; …"
    assert false_positive(
        rejected, 412, json.dumps({"code": "PRECONDITION_FAILED", "detail": stale}).encode()
    )
    assert false_positive(rejected, 412, json.dumps({"detail": stale}).encode())
    reused = "This Idempotency-Key was used for another request (POST /v1/assets with its own body); …"
    assert false_positive(rejected, 422, json.dumps({"detail": reused}).encode())
    assert not false_positive(rejected, 412, b'{"detail": "Precondition failed."}')
    assert not false_positive(rejected, 422, b'{"detail": "Unprocessable."}')


def test_read_only_allowance_is_narrow() -> None:
    thing = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "id": {"readOnly": True},
            "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "\\S"},
        },
    }
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
    spec = {
        "paths": {"/things/": {"post": {"requestBody": body}}},
        "components": {"schemas": {"Thing": thing}},
    }
    accepted = AcceptedNegativeData(operation="POST", message="m", status_code=201, expected_statuses=[])

    def case(body: Any) -> SimpleNamespace:
        return SimpleNamespace(path="/things/", method="POST", body=body)

    assert read_only_sent_back(spec, accepted, case({"id": [], "name": "a b"}))
    # Without a read-only member, or with any other violation, the failure stands.
    assert not read_only_sent_back(spec, accepted, case({"name": "a b"}))
    assert not read_only_sent_back(spec, accepted, case({"id": [], "name": " "}))
    assert not read_only_sent_back(spec, accepted, case({"id": [], "name": "toolong"}))
    assert not read_only_sent_back(spec, accepted, case({"id": [], "name": "a", "colour": 1}))
    rejected = RejectedPositiveData(operation="POST", message="m", status_code=400, allowed_statuses=[])
    assert not read_only_sent_back(spec, rejected, case({"id": [], "name": "a b"}))


async def test_a_real_failure_fails_the_run(client: TestClient, tenant: Tenant) -> None:
    """The harness is not vacuous: a document the API does not honour makes schemathesis report it."""
    spec = await served_openapi(client)
    operation = copy.deepcopy(spec["paths"]["/v1/assets"]["get"])
    # Promise a member the API never sends.
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    operation["responses"]["200"]["content"]["application/json"]["schema"] = {
        "allOf": [ok, {"type": "object", "required": ["no_such_member"]}]
    }
    broken = {**spec, "paths": {"/v1/assets": {"get": operation}}}
    report = await asyncio.to_thread(run_schemathesis, broken, _base_url(client), tenant.token)
    assert "response_schema_conformance" in report.failed_checks, report.text()
    assert report.failures
    assert "no_such_member" in report.text()
    assert "curl -X GET" in report.text()
