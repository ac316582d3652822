"""Idempotency keys (draft-ietf-httpapi-idempotency-key-header): what a write sent with one
answered, kept so that a repeat of the same request gets that answer again."""

import hashlib
from dataclasses import dataclass


def fingerprint(method: str, target: str, body_digest: bytes) -> bytes:
    """What makes two requests the same request: method, path with query, and body (its SHA-256)."""
    return hashlib.sha256(b"\0".join((method.encode(), target.encode(), body_digest))).digest()


@dataclass(frozen=True)
class KeptAnswer:
    """The answer of the first request with a key, and that request's fingerprint."""

    method: str
    path: str
    fingerprint: bytes
    status: int
    headers: dict[str, str]
    body: bytes
