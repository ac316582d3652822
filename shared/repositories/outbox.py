"""The transactional outbox: rows written beside each change, claimed and marked by the relay."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from shared.db import Conn, ConnectionSource
from shared.repositories.rows import columns

NOTIFY_CHANNEL = "assetflow_outbox"


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    event_id: UUID
    routing_key: str
    body: bytes


async def claim_unsent(conn: Conn, limit: int) -> list[OutboxRow]:
    """Lock the oldest unsent rows that no other relay holds (call inside a transaction)."""
    rows = await conn.fetch(
        """SELECT seq, event_id, routing_key, body FROM outbox
           WHERE sent_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )
    return [OutboxRow(r["seq"], r["event_id"], r["routing_key"], r["body"]) for r in rows]


async def mark_sent(conn: Conn, seqs: list[int]) -> None:
    await conn.execute("UPDATE outbox SET sent_at = now() WHERE seq = ANY($1::bigint[])", seqs)


async def prune_sent(conn: Conn, older_than: dt.timedelta) -> int:
    status = await conn.execute(
        "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < now() - $1::interval", older_than
    )
    return int(status.split()[-1])


async def backlog(conn: Conn) -> int:
    """How many events wait to be published."""
    return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))


class OutboxRepository:
    """Where a use case writes its events: in its own transaction, published once that commits."""

    def __init__(self, db: ConnectionSource) -> None:
        self._db = db

    async def add(self, event_id: UUID, org_id: UUID, routing_key: str, body: bytes) -> None:
        """Write an event in the caller's transaction and wake the relay when it commits."""
        async with self._db.connection() as conn:
            await conn.execute(
                "INSERT INTO outbox (event_id, org_id, routing_key, body) VALUES ($1, $2, $3, $4)",
                event_id,
                org_id,
                routing_key,
                body,
            )
            # NOTIFY is delivered at commit, and only if the transaction commits.
            await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")

    async def add_many(self, org_id: UUID, events: Sequence[tuple[UUID, str, bytes]]) -> None:
        """Write many events (id, routing key, body) in one statement, their seq in the order
        given (the relay publishes in seq order), and one wake-up."""
        if not events:
            return
        ids, keys, bodies = columns(events)
        async with self._db.connection() as conn:
            await conn.execute(
                """INSERT INTO outbox (event_id, org_id, routing_key, body)
                   SELECT event_id, $1, routing_key, body
                   FROM unnest($2::uuid[], $3::text[], $4::bytea[]) WITH ORDINALITY
                       AS e(event_id, routing_key, body, n)
                   ORDER BY n""",
                org_id,
                ids,
                keys,
                bodies,
            )
            await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
