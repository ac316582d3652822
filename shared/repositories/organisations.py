"""Organisations, their companies, their tag template and counter, and their API tokens."""

import datetime as dt
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from shared.db import Conn, ConnectionSource
from shared.domain.models import ApiToken, Organisation

_ORG_COLUMNS = "id, name, prefix, tag_template, tag_template_version, created_at"
_TOKEN_COLUMNS = (
    "id, org_id, name, scopes, expires_at, revoked_at, created_at, rate_limit_read, rate_limit_write"
)


async def _fetch_one(conn: Conn, query: str, *args: Any) -> asyncpg.Record:
    """A statement that always yields exactly one row."""
    row = await conn.fetchrow(query, *args)
    assert row is not None, query
    return row


# Run for every authenticated request (the benchmark's raw side runs the same text).
LIVE_TOKEN_SQL = f"""SELECT {_TOKEN_COLUMNS}, token_hash FROM api_tokens
    WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"""


class OrganisationRepository:
    """Organisations, their tag template and counter, and their API tokens."""

    def __init__(self, db: ConnectionSource) -> None:
        self._db = db

    async def insert(self, name: str, prefix: str) -> Organisation:
        """A new organisation with its first company (number 1)."""
        async with self._db.connection() as conn:
            row = await _fetch_one(
                conn,
                f"INSERT INTO organisations (id, name, prefix) VALUES ($1, $2, $3) RETURNING {_ORG_COLUMNS}",
                uuid4(),
                name,
                prefix,
            )
            await conn.execute(
                "INSERT INTO companies (org_id, number, name) VALUES ($1, 1, $2)", row["id"], name
            )
            return Organisation.model_validate(dict(row))

    async def find_by_name(self, name: str) -> Organisation | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(f"SELECT {_ORG_COLUMNS} FROM organisations WHERE name = $1", name)
            return Organisation.model_validate(dict(row)) if row else None

    async def oldest(self) -> Organisation | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(f"SELECT {_ORG_COLUMNS} FROM organisations ORDER BY created_at LIMIT 1")
            return Organisation.model_validate(dict(row)) if row else None

    async def get(self, org_id: UUID) -> Organisation:
        async with self._db.connection() as conn:
            row = await _fetch_one(conn, f"SELECT {_ORG_COLUMNS} FROM organisations WHERE id = $1", org_id)
            return Organisation.model_validate(dict(row))

    async def lock_tag_template(self, org_id: UUID) -> Organisation:
        """The organisation, its template locked against other changes until the transaction ends."""
        async with self._db.connection() as conn:
            row = await _fetch_one(
                conn, f"SELECT {_ORG_COLUMNS} FROM organisations WHERE id = $1 FOR NO KEY UPDATE", org_id
            )
            return Organisation.model_validate(dict(row))

    async def set_tag_template(self, org_id: UUID, template: str) -> None:
        """Set the template and count the change in its version (none when it is the same)."""
        async with self._db.connection() as conn:
            await conn.execute(
                """UPDATE organisations SET tag_template = $2, tag_template_version = tag_template_version + 1
                   WHERE id = $1 AND tag_template IS DISTINCT FROM $2""",
                org_id,
                template,
            )

    async def next_tag_counter(self, org_id: UUID) -> tuple[int, str, str]:
        """Take the organisation's next counter value: (counter, template, prefix)."""
        async with self._db.connection_apart() as conn:
            row = await _fetch_one(
                conn,
                """UPDATE organisations SET tag_counter = tag_counter + 1 WHERE id = $1
                   RETURNING tag_counter, tag_template, prefix""",
                org_id,
            )
            return row["tag_counter"], row["tag_template"], row["prefix"]

    async def take_tag_counters(self, org_id: UUID, count: int) -> tuple[int, str, str]:
        """Take `count` counter values at once: (the first of them, template, prefix)."""
        async with self._db.connection_apart() as conn:
            row = await _fetch_one(
                conn,
                """UPDATE organisations SET tag_counter = tag_counter + $2 WHERE id = $1
                   RETURNING tag_counter, tag_template, prefix""",
                org_id,
                count,
            )
            return row["tag_counter"] - count + 1, row["tag_template"], row["prefix"]

    async def insert_token(
        self,
        org_id: UUID,
        name: str,
        token_hash: bytes,
        scopes: list[str],
        expires_at: dt.datetime | None,
        rate_limit_read: str | None = None,
        rate_limit_write: str | None = None,
    ) -> ApiToken:
        async with self._db.connection() as conn:
            row = await _fetch_one(
                conn,
                f"""INSERT INTO api_tokens (id, org_id, name, token_hash, scopes, expires_at,
                        rate_limit_read, rate_limit_write)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_TOKEN_COLUMNS}""",
                uuid4(),
                org_id,
                name,
                token_hash,
                scopes,
                expires_at,
                rate_limit_read,
                rate_limit_write,
            )
            return ApiToken.model_validate(dict(row))

    async def find_live_token(self, token_hash: bytes) -> tuple[ApiToken, bytes] | None:
        """The token with this hash if it is neither revoked nor expired, with its stored hash."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(LIVE_TOKEN_SQL, token_hash)
            if row is None:
                return None
            values = dict(row)
            stored = values.pop("token_hash")
            return ApiToken.model_validate(values), stored

    async def revoke_token(self, token_id: UUID) -> bool:
        async with self._db.connection() as conn:
            status = await conn.execute(
                "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token_id
            )
            return bool(status != "UPDATE 0")

    async def list_tokens(self, org_id: UUID) -> list[ApiToken]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE org_id = $1 ORDER BY created_at", org_id
            )
            return [ApiToken.model_validate(dict(r)) for r in rows]
