"""Every string a request may send says in the OpenAPI document that it holds no NUL, as the
server rules: PostgreSQL text cannot store U+0000, and the api answers it with a 400."""

import re
from collections.abc import Iterator
from typing import Any

from services.api.app import create_app
from services.api.openapi import build_openapi
from shared.settings import Settings

# Text that some pattern of the document accepts: for each pattern one of them must match, so that
# putting a NUL into it shows whether the pattern lets NUL through.
_SAMPLES = ("a", "A", "1", "N", "10.50", "abc-1", "{PREFIX}-NNNN", "https://example.com/hook")


def _document() -> dict[str, Any]:
    app = create_app(Settings(database_url="postgresql://127.0.0.1/none", amqp_url="amqp://127.0.0.1/"))
    return build_openapi(app)


def _resolved(
    document: dict[str, Any], schema: Any, seen: frozenset[str] = frozenset()
) -> Iterator[dict[str, Any]]:
    """Every schema inside `schema`, following `$ref`s into the components (each once)."""
    if isinstance(schema, list):
        for item in schema:
            yield from _resolved(document, item, seen)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        if ref not in seen:
            yield from _resolved(
                document, document["components"]["schemas"][ref.rsplit("/", 1)[1]], seen | {ref}
            )
        return
    yield schema
    for key, value in schema.items():
        if key not in ("description", "examples", "example", "default", "enum", "const"):
            yield from _resolved(document, value, seen)


def _request_strings(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(operation, schema) of every string schema of a request body or query parameter (a path's
    id is looked up, never stored, and names nothing with a NUL: 404; HTTP carries no NUL in a
    header)."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            sources = [p.get("schema", {}) for p in operation.get("parameters", []) if p["in"] == "query"]
            for content in operation.get("requestBody", {}).get("content", {}).values():
                sources.append(content.get("schema", {}))
            for source in sources:
                for schema in _resolved(document, source):
                    if schema.get("type") == "string" or schema.get("additionalProperties") not in (
                        None,
                        False,
                    ):
                        yield where, schema


def test_every_string_of_a_request_excludes_nul() -> None:
    checked = 0
    for where, schema in _request_strings(_document()):
        if schema.get("additionalProperties") not in (None, False):  # its members' names
            assert schema.get("propertyNames", {}).get("pattern"), f"{where}: names may hold NUL: {schema}"
            schema = {"type": "string", **schema["propertyNames"]}
        if "enum" in schema or schema.get("format") in ("uuid", "date", "date-time", "email", "binary"):
            continue  # an enum's values and these formats hold no NUL by themselves
        pattern = schema.get("pattern")
        assert pattern, f"{where}: a string without a pattern lets NUL through: {schema}"
        regex = re.compile(pattern)
        sample = next((text for text in _SAMPLES if regex.search(text)), None)
        assert sample is not None, f"{where}: no sample matches {pattern!r}; add one to _SAMPLES"
        for with_nul in (sample + "\0", "\0" + sample, sample[:1] + "\0" + sample[1:]):
            assert not regex.search(with_nul), f"{where}: {pattern!r} takes {with_nul!r}"
        checked += 1
    assert checked > 100  # the walk reached the bodies and parameters
