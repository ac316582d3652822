"""Webhook endpoints, their deliveries and each delivery's attempts."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from shared.db import ConnectionSource
from shared.domain.webhooks import Attempt, Delivery, DeliveryStatus, WebhookEndpoint

NOTIFY_CHANNEL = "assetflow_webhooks"

_ENDPOINT = """id, org_id, url, events, description, enabled, secret, previous_secret,
    previous_secret_until, failing_since, disabled_at, disabled_reason, version, created_at, updated_at"""
_DELIVERY = """d.id, d.endpoint_id, d.event_id, d.event_type, d.status, d.attempts, d.next_attempt_at,
    d.created_at, d.finished_at"""
# Serialises the dispatchers' claims, so that the per-endpoint bound holds across workers.
_CLAIM_LOCK = "assetflow:webhook-claims"


def _endpoint(row: asyncpg.Record) -> WebhookEndpoint:
    values = dict(row)
    values["secret"] = bytes(values["secret"])
    if values["previous_secret"] is not None:
        values["previous_secret"] = bytes(values["previous_secret"])
    return WebhookEndpoint.model_validate(values)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery a dispatcher has claimed, with what it needs to send it."""

    id: UUID
    org_id: UUID
    endpoint_id: UUID
    event_id: str
    event_type: str
    body: bytes
    attempts: int
    created_at: dt.datetime
    window_started_at: dt.datetime | None
    window_attempts: int
    lease_id: UUID
    url: str
    secret: bytes
    previous_secret: bytes | None
    previous_secret_until: dt.datetime | None


class WebhookRepository:
    def __init__(self, db: ConnectionSource) -> None:
        self._db = db

    # ---- endpoints ----------------------------------------------------------------------------

    async def insert(
        self, org_id: UUID, url: str, events: list[str], description: str, enabled: bool, secret: bytes
    ) -> WebhookEndpoint:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"""INSERT INTO webhook_endpoints (id, org_id, url, events, description, enabled, secret)
                    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_ENDPOINT}""",
                uuid4(),
                org_id,
                url,
                events,
                description,
                enabled,
                secret,
            )
        assert row is not None
        return _endpoint(row)

    async def count(self, org_id: UUID) -> int:
        async with self._db.connection() as conn:
            return int(
                await conn.fetchval("SELECT count(*) FROM webhook_endpoints WHERE org_id = $1", org_id)
            )

    async def lock_organisation(self, org_id: UUID) -> None:
        """Hold the organisation's webhooks for the transaction (a count that must stay true)."""
        async with self._db.connection() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"webhooks:{org_id}")

    async def get(self, org_id: UUID, endpoint_id: UUID, lock: bool = False) -> WebhookEndpoint | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE org_id = $1 AND id = $2"
                + (" FOR UPDATE" if lock else ""),
                org_id,
                endpoint_id,
            )
        return _endpoint(row) if row else None

    async def list_endpoints(self, org_id: UUID) -> list[WebhookEndpoint]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE org_id = $1 ORDER BY created_at, id", org_id
            )
        return [_endpoint(row) for row in rows]

    async def update(self, org_id: UUID, endpoint_id: UUID, values: dict[str, Any]) -> WebhookEndpoint:
        """Set the columns given, count the change and answer the endpoint as it is now."""
        names = list(values)
        sets = ", ".join(f"{name} = ${index + 3}" for index, name in enumerate(names))
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"""UPDATE webhook_endpoints SET {sets}{", " if sets else ""}version = version + 1,
                        updated_at = now()
                    WHERE org_id = $1 AND id = $2 RETURNING {_ENDPOINT}""",
                org_id,
                endpoint_id,
                *values.values(),
            )
        assert row is not None
        return _endpoint(row)

    async def delete(self, org_id: UUID, endpoint_id: UUID) -> bool:
        async with self._db.connection() as conn:
            status = await conn.execute(
                "DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2", org_id, endpoint_id
            )
        return status.endswith(" 1")

    async def enabled_for(self, org_ids: Sequence[UUID]) -> list[tuple[UUID, UUID, list[str]]]:
        """(endpoint id, organisation id, event patterns) of every enabled endpoint of these organisations."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT id, org_id, events FROM webhook_endpoints WHERE org_id = ANY($1::uuid[]) AND enabled",
                list(org_ids),
            )
        return [(row["id"], row["org_id"], list(row["events"])) for row in rows]

    async def all_secrets(self) -> list[tuple[UUID, bytes, bytes | None]]:
        async with self._db.connection() as conn:
            rows = await conn.fetch("SELECT id, secret, previous_secret FROM webhook_endpoints FOR UPDATE")
        return [
            (r["id"], bytes(r["secret"]), r["previous_secret"] and bytes(r["previous_secret"])) for r in rows
        ]

    async def set_secrets(self, endpoint_id: UUID, secret: bytes, previous: bytes | None) -> None:
        async with self._db.connection() as conn:
            await conn.execute(
                "UPDATE webhook_endpoints SET secret = $2, previous_secret = $3 WHERE id = $1",
                endpoint_id,
                secret,
                previous,
            )

    # ---- deliveries ---------------------------------------------------------------------------

    async def add_deliveries(self, rows: Sequence[tuple[UUID, UUID, str, str, bytes]]) -> set[str]:
        """Record (org, endpoint, event id, event type, body) deliveries, due now; one already
        recorded (the event redelivered) is left as it is. The event ids recorded anew; the
        dispatchers are woken at commit."""
        if not rows:
            return set()
        orgs, endpoints, event_ids, types, bodies = (list(column) for column in zip(*rows, strict=True))
        async with self._db.connection() as conn:
            added = await conn.fetch(
                """INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, event_type, body,
                                                   next_attempt_at)
                   SELECT gen_random_uuid(), o, e, i, t, b, now()
                   FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bytea[])
                       AS x(o, e, i, t, b)
                   ON CONFLICT (endpoint_id, event_id) DO NOTHING
                   RETURNING event_id""",
                orgs,
                endpoints,
                event_ids,
                types,
                bodies,
            )
            if added:
                await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
        return {row["event_id"] for row in added}

    async def add_sent(
        self, org_id: UUID, endpoint_id: UUID, event_id: str, event_type: str, body: bytes, delivered: bool
    ) -> UUID:
        """A delivery made at once (a ping), already finished."""
        async with self._db.connection() as conn:
            delivery_id: UUID = await conn.fetchval(
                """INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, event_type, body,
                                                   status, attempts, finished_at)
                   VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, 1, now()) RETURNING id""",
                org_id,
                endpoint_id,
                event_id,
                event_type,
                body,
                DeliveryStatus.DELIVERED if delivered else DeliveryStatus.FAILED,
            )
        return delivery_id

    async def claim_due(
        self, limit: int, per_endpoint: int, failing_limit: int, lease: dt.timedelta
    ) -> list[DueDelivery]:
        """Lease up to `limit` due deliveries of enabled endpoints, healthy endpoints' first, then
        oldest due first, each under a lease id of its own. At most `per_endpoint` of a healthy
        endpoint are sent at a time, one of an endpoint that is failing, and failing endpoints
        together hold at most `failing_limit` (counting what every dispatcher holds), so that dead
        endpoints never take every slot. Call inside a transaction."""
        async with self._db.connection() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _CLAIM_LOCK)
            rows = await conn.fetch(
                """WITH RECURSIVE waiting AS (
                       -- Each endpoint with a pending delivery, by a skip scan of the index (a
                       -- claim costs a probe per such endpoint, not a row per delivery due).
                       (SELECT endpoint_id FROM webhook_deliveries WHERE status = 'pending'
                        ORDER BY endpoint_id LIMIT 1)
                       UNION ALL
                       SELECT (SELECT d.endpoint_id FROM webhook_deliveries d
                               WHERE d.status = 'pending' AND d.endpoint_id > w.endpoint_id
                               ORDER BY d.endpoint_id LIMIT 1)
                       FROM waiting w WHERE w.endpoint_id IS NOT NULL
                   ), open AS (
                       SELECT e.id, e.failing_since IS NOT NULL AS failing,
                              CASE WHEN e.failing_since IS NULL THEN $2 ELSE 1 END - (
                                  SELECT count(*) FROM webhook_deliveries x
                                  WHERE x.endpoint_id = e.id AND x.leased_until > now()) AS room
                       FROM waiting w JOIN webhook_endpoints e ON e.id = w.endpoint_id AND e.enabled
                   ), due AS (
                       SELECT d.id, d.next_attempt_at, o.failing
                       FROM open o CROSS JOIN LATERAL (
                           SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
                           WHERE d.endpoint_id = o.id AND d.status = 'pending' AND d.next_attempt_at <= now()
                             AND (d.leased_until IS NULL OR d.leased_until <= now())
                           ORDER BY d.next_attempt_at LIMIT greatest(o.room, 0)) d
                   ), allowed AS (
                       SELECT id, next_attempt_at, failing,
                              CASE WHEN failing
                                  THEN row_number() OVER (PARTITION BY failing ORDER BY next_attempt_at)
                              END AS failing_place
                       FROM due
                   ), chosen AS (
                       -- Still due when locked: the conditions are checked again on the row's
                       -- newest version (a late holder may have settled it since the snapshot).
                       SELECT d.id FROM webhook_deliveries d
                       WHERE d.status = 'pending' AND (d.leased_until IS NULL OR d.leased_until <= now())
                         AND d.id IN (
                           SELECT id FROM allowed
                           WHERE NOT failing OR failing_place <= $4 - (
                               SELECT count(*) FROM webhook_deliveries x
                               JOIN webhook_endpoints y
                                 ON y.id = x.endpoint_id AND y.failing_since IS NOT NULL
                               WHERE x.leased_until > now())
                           ORDER BY failing, next_attempt_at LIMIT $1)
                       FOR UPDATE OF d SKIP LOCKED
                   )
                   UPDATE webhook_deliveries d
                   SET leased_until = now() + $3::interval, lease_id = gen_random_uuid()
                   FROM chosen, webhook_endpoints e
                   WHERE d.id = chosen.id AND e.id = d.endpoint_id
                   RETURNING d.id, d.org_id, d.endpoint_id, d.event_id, d.event_type, d.body,
                             d.attempts, d.created_at, d.window_started_at, d.window_attempts, d.lease_id,
                             e.url, e.secret,
                             e.previous_secret, e.previous_secret_until""",
                limit,
                per_endpoint,
                lease,
                failing_limit,
            )
        return [
            DueDelivery(
                id=r["id"],
                org_id=r["org_id"],
                endpoint_id=r["endpoint_id"],
                event_id=r["event_id"],
                event_type=r["event_type"],
                body=bytes(r["body"]),
                attempts=r["attempts"],
                created_at=r["created_at"],
                window_started_at=r["window_started_at"],
                window_attempts=r["window_attempts"],
                lease_id=r["lease_id"],
                url=r["url"],
                secret=bytes(r["secret"]),
                previous_secret=r["previous_secret"] and bytes(r["previous_secret"]),
                previous_secret_until=r["previous_secret_until"],
            )
            for r in rows
        ]

    async def next_due(self) -> dt.datetime | None:
        """When the soonest pending delivery of an enabled endpoint falls due, or a lease runs out
        (the due index walked in order to the first such; the live leases are few)."""
        async with self._db.connection() as conn:
            at: dt.datetime | None = await conn.fetchval(
                """SELECT least(
                       (SELECT d.next_attempt_at FROM webhook_deliveries d
                        JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
                        WHERE d.status = 'pending' AND d.leased_until IS NULL
                        ORDER BY d.next_attempt_at LIMIT 1),
                       (SELECT min(leased_until) FROM webhook_deliveries WHERE leased_until IS NOT NULL))"""
            )
        return at

    async def record_attempt(
        self,
        delivery_id: UUID,
        attempt: Attempt,
        status: DeliveryStatus,
        next_attempt_at: dt.datetime | None,
        lease_id: UUID | None = None,
        counts: bool = True,
    ) -> bool:
        """Settle the delivery (delivered, failed for good, or due again then) and log the
        attempt, in one statement; with `lease_id`, only while that claim holds it. An attempt
        that `counts` starts the retry window if none runs and takes the schedule's next place;
        one that does not (nothing was sent, for a reason of the server's) is only logged."""
        async with self._db.connection() as conn:
            done = await conn.fetchval(
                """WITH settled AS (
                       UPDATE webhook_deliveries SET attempts = greatest(attempts, $2), status = $3,
                           next_attempt_at = $4, leased_until = NULL, lease_id = NULL,
                           window_started_at = CASE WHEN $11 THEN coalesce(window_started_at, $5)
                                                    ELSE window_started_at END,
                           window_attempts = window_attempts + CASE WHEN $11 THEN 1 ELSE 0 END,
                           finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
                       WHERE id = $1 AND ($9::uuid IS NULL OR lease_id = $9)
                       RETURNING id
                   ), logged AS (
                       INSERT INTO webhook_attempts (delivery_id, n, at, duration_ms, status_code, error,
                                                     response_body)
                       SELECT id, $2, $5, $6, $7, $8, $10 FROM settled
                       ON CONFLICT (delivery_id, n) DO NOTHING
                   )
                   SELECT count(*) FROM settled""",
                delivery_id,
                attempt.n,
                status,
                next_attempt_at,
                attempt.at,
                attempt.duration_ms,
                attempt.status_code,
                attempt.error,
                lease_id,
                attempt.response_body,
                counts,
            )
        return bool(done)

    async def endpoint_delivered(self, endpoint_id: UUID) -> None:
        """A success for an endpoint that was not failing: its last delivery and attempt noted, at
        most once a second (each delivery of a busy endpoint would otherwise queue on its row)."""
        async with self._db.connection() as conn:
            await conn.execute(
                """UPDATE webhook_endpoints SET failing_since = NULL, last_delivered_at = now(),
                       last_attempt_at = now()
                   WHERE id = $1 AND (failing_since IS NOT NULL OR last_delivered_at IS NULL
                                      OR last_delivered_at < now() - interval '1 second')""",
                endpoint_id,
            )

    async def endpoint_answered(
        self, endpoint_id: UUID, delivered: bool, quiet: dt.timedelta
    ) -> tuple[dt.datetime | None, dt.datetime | None]:
        """Note an attempt's outcome on its endpoint: a success ends its failing streak; a failure
        starts one if none is running, or if nothing was tried for longer than `quiet` (a streak
        is of attempts in a row, not of days with none). When its streak began (None after a
        success), and when it last took a delivery."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                """UPDATE webhook_endpoints
                   SET failing_since = CASE
                           WHEN $2 THEN NULL
                           WHEN failing_since IS NULL OR last_attempt_at < now() - $3::interval THEN now()
                           ELSE failing_since END,
                       last_delivered_at = CASE WHEN $2 THEN now() ELSE last_delivered_at END,
                       last_attempt_at = now()
                   WHERE id = $1 RETURNING failing_since, last_delivered_at""",
                endpoint_id,
                delivered,
                quiet,
            )
        return (row["failing_since"], row["last_delivered_at"]) if row else (None, None)

    async def disable(self, endpoint_id: UUID, reason: str) -> WebhookEndpoint | None:
        """Disable an endpoint that is enabled; None when it was not (or is gone)."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"""UPDATE webhook_endpoints SET enabled = false, disabled_at = now(), disabled_reason = $2,
                        version = version + 1, updated_at = now()
                    WHERE id = $1 AND enabled RETURNING {_ENDPOINT}""",
                endpoint_id,
                reason,
            )
        return _endpoint(row) if row else None

    async def get_delivery(self, org_id: UUID, endpoint_id: UUID, delivery_id: UUID) -> Delivery | None:
        found = await self._deliveries(
            "d.org_id = $1 AND d.endpoint_id = $2 AND d.id = $3", [org_id, endpoint_id, delivery_id], 1
        )
        return found[0] if found else None

    async def list_deliveries(
        self,
        org_id: UUID,
        endpoint_id: UUID,
        status: DeliveryStatus | None,
        event_type: str | None,
        after: tuple[dt.datetime, UUID] | None,
        limit: int,
    ) -> list[Delivery]:
        """Newest first, after a (created_at, id) cursor."""
        where = ["d.org_id = $1", "d.endpoint_id = $2"]
        args: list[Any] = [org_id, endpoint_id]
        if status is not None:
            args.append(status.value)
            where.append(f"d.status = ${len(args)}")
        if event_type is not None:
            args.append(event_type)
            where.append(f"d.event_type = ${len(args)}")
        if after is not None:
            args.extend(after)
            where.append(f"(d.created_at, d.id) < (${len(args) - 1}, ${len(args)})")
        return await self._deliveries(" AND ".join(where), args, limit)

    async def _deliveries(self, where: str, args: list[Any], limit: int) -> list[Delivery]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"""SELECT {_DELIVERY},
                       coalesce((SELECT jsonb_agg(jsonb_build_object(
                                    'n', a.n, 'at', a.at, 'duration_ms', a.duration_ms,
                                    'status_code', a.status_code, 'error', a.error,
                                    'response_body', a.response_body) ORDER BY a.n)
                                 FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]') AS tries
                    FROM webhook_deliveries d WHERE {where}
                    ORDER BY d.created_at DESC, d.id DESC LIMIT {int(limit)}""",
                *args,
            )
        return [Delivery.model_validate(dict(row)) for row in rows]

    async def retry_now(self, delivery_id: UUID) -> bool:
        """Make a delivery due now (again, if it was delivered or failed), with a retry window of
        its own from its next attempt; False while one is being sent."""
        async with self._db.connection() as conn:
            status = await conn.execute(
                """UPDATE webhook_deliveries
                   SET status = 'pending', next_attempt_at = now(), finished_at = NULL,
                       window_started_at = NULL, window_attempts = 0, leased_until = NULL, lease_id = NULL
                   WHERE id = $1 AND (leased_until IS NULL OR leased_until <= now())""",
                delivery_id,
            )
            if status.endswith(" 1"):
                await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
                return True
        return False

    async def resume(self, endpoint_id: UUID) -> None:
        """An endpoint enabled again: what waited for it is due now, each with a new retry window."""
        async with self._db.connection() as conn:
            await conn.execute(
                """UPDATE webhook_deliveries
                   SET next_attempt_at = now(), window_started_at = NULL, window_attempts = 0,
                       leased_until = NULL, lease_id = NULL
                   WHERE endpoint_id = $1 AND status = 'pending'
                     AND (leased_until IS NULL OR leased_until <= now())""",
                endpoint_id,
            )
            await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")

    async def prune(self, older_than: dt.timedelta, limit: int) -> int:
        """Delete up to `limit` deliveries finished longer ago than that, with their attempts."""
        async with self._db.connection() as conn:
            status = await conn.execute(
                """DELETE FROM webhook_deliveries WHERE id IN (
                       SELECT id FROM webhook_deliveries
                       WHERE status <> 'pending' AND finished_at < now() - $1::interval LIMIT $2)""",
                older_than,
                limit,
            )
        return int(status.split()[-1])

    async def due_count(self) -> int:
        """Deliveries of enabled endpoints due now and not being sent, over every dispatcher."""
        async with self._db.connection() as conn:
            due = await conn.fetchval(
                """SELECT count(*) FROM webhook_deliveries d
                   JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
                   WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                     AND (d.leased_until IS NULL OR d.leased_until <= now())"""
            )
        return int(due)
