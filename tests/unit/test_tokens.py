"""API tokens: format, entropy, hashing and constant-time comparison (pure functions)."""

import base64
import hashlib
import hmac
import re

import pytest

from shared.domain import tokens
from shared.domain.tokens import TOKEN_PREFIX, hash_token, hashes_match, mint_token

TOKEN_RE = re.compile(r"^usl_live_[A-Za-z0-9_-]{43}$")


def test_prefix_is_usl_live() -> None:
    assert TOKEN_PREFIX == "usl_live_"


def test_minted_token_has_the_documented_format() -> None:
    for _ in range(50):
        token = mint_token()
        assert TOKEN_RE.match(token), token
        assert len(token) == len("usl_live_") + 43


def test_token_body_carries_256_random_bits() -> None:
    body = mint_token().removeprefix(TOKEN_PREFIX)
    raw = base64.urlsafe_b64decode(body + "=")
    assert len(raw) == 32  # 256 bits
    # No padding, no characters outside the URL-safe alphabet (usable as is in a header or URL).
    assert "=" not in body and "+" not in body and "/" not in body


def test_minted_tokens_are_unique() -> None:
    minted = {mint_token() for _ in range(2000)}
    assert len(minted) == 2000


def test_minted_tokens_use_the_whole_alphabet() -> None:
    # 2000 tokens x 43 characters: every one of the 64 URL-safe characters must show up; a weak
    # generator (e.g. hex, or a fixed body) would not.
    seen = set("".join(mint_token().removeprefix(TOKEN_PREFIX) for _ in range(2000)))
    assert len(seen) == 64


def test_minting_uses_the_secrets_module(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int | None] = []

    def fake(nbytes: int | None = None) -> str:
        calls.append(nbytes)
        return "x" * 43

    monkeypatch.setattr(tokens.secrets, "token_urlsafe", fake)
    assert mint_token() == "usl_live_" + "x" * 43
    assert calls == [32]


def test_hash_is_sha256_of_the_whole_token() -> None:
    token = mint_token()
    digest = hash_token(token)
    assert isinstance(digest, bytes)
    assert len(digest) == 32
    assert digest == hashlib.sha256(token.encode()).digest()


def test_hash_is_deterministic_and_never_the_token() -> None:
    token = mint_token()
    assert hash_token(token) == hash_token(token)
    assert token.encode() not in hash_token(token)
    assert hash_token(token).hex() != token


def test_hash_distinguishes_tokens_differing_in_one_character() -> None:
    token = mint_token()
    last = token[-1]
    other = token[:-1] + ("A" if last != "A" else "B")
    assert hash_token(token) != hash_token(other)
    # the prefix is part of what is hashed
    assert hash_token(token) != hash_token(token.removeprefix(TOKEN_PREFIX))


def test_hash_of_non_ascii_input_does_not_fail() -> None:
    assert len(hash_token("usl_live_é€😀")) == 32


def test_hashes_match_true_for_equal_and_false_otherwise() -> None:
    token = mint_token()
    assert hashes_match(hash_token(token), hash_token(token))
    assert not hashes_match(hash_token(token), hash_token(mint_token()))
    assert not hashes_match(hash_token(token), hash_token(token)[:-1])
    assert not hashes_match(hash_token(token), b"")


def test_hashes_match_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    stored, presented = hash_token("a"), hash_token("b")
    assert hashes_match(stored, presented) is False
    assert calls == [(stored, presented)]
