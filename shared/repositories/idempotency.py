"""The answers kept for idempotency keys, per organisation."""

from uuid import UUID

from shared.db import ConnectionSource
from shared.domain.idempotency import KeptAnswer


def _lock_name(org_id: UUID, key: str) -> str:
    return f"idempotency:{org_id}:{key}"


class IdempotencyRepository:
    def __init__(self, db: ConnectionSource) -> None:
        self._db = db

    async def claim(self, org_id: UUID, key: str) -> bool:
        """Hold the key until the transaction ends; False, at once, while another holds it."""
        async with self._db.connection() as conn:
            return bool(
                await conn.fetchval(
                    "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", _lock_name(org_id, key)
                )
            )

    async def find(self, org_id: UUID, key: str) -> KeptAnswer | None:
        """The answer kept for the key, unless it has expired."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                """SELECT method, path, fingerprint, status, headers, body FROM idempotency_keys
                   WHERE org_id = $1 AND key = $2 AND expires_at > now()""",
                org_id,
                key,
            )
        if row is None:
            return None
        return KeptAnswer(
            row["method"], row["path"], bytes(row["fingerprint"]), row["status"], row["headers"], row["body"]
        )

    async def keep(self, org_id: UUID, key: str, answer: KeptAnswer, hours: float) -> None:
        """Keep the answer for `hours`; it takes the place of an expired one of the same key."""
        async with self._db.connection() as conn:
            await conn.execute(
                """INSERT INTO idempotency_keys
                       (org_id, key, method, path, fingerprint, status, headers, body, expires_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9 * 3600))
                   ON CONFLICT (org_id, key) DO UPDATE SET
                       method = excluded.method, path = excluded.path,
                       fingerprint = excluded.fingerprint, status = excluded.status,
                       headers = excluded.headers, body = excluded.body,
                       created_at = now(), expires_at = excluded.expires_at""",
                org_id,
                key,
                answer.method,
                answer.path,
                answer.fingerprint,
                answer.status,
                answer.headers,
                answer.body,
                hours,
            )

    async def prune(self, limit: int) -> int:
        """Delete up to `limit` expired keys; how many were."""
        async with self._db.connection() as conn:
            status = await conn.execute(
                """DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
                       SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT $1))""",
                limit,
            )
        return int(status.split()[-1])
