"""API tokens: minted at random, shown once, stored only as a hash."""

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "usl_live_"


def mint_token() -> str:
    """A new token: the prefix and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    """What is stored for a token: SHA-256 suffices for 256 random bits."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def hashes_match(stored: bytes, presented: bytes) -> bool:
    """Compare two token hashes in constant time."""
    return hmac.compare_digest(stored, presented)
