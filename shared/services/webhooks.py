"""Webhooks: registering endpoints, recording a delivery of each event each endpoint takes, and
settling each attempt the dispatcher makes."""

import contextlib
import datetime as dt
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from shared.domain.consumers import ConsumerName
from shared.domain.versions import Expected, check_expected
from shared.domain.webhooks import (
    MAX_PATTERNS,
    ROTATION_OVERLAP,
    Attempt,
    AttemptResult,
    Delivery,
    DeliveryStatus,
    EventSource,
    RetryPlan,
    WebhookEndpoint,
    delivery_headers,
    mint_secret,
    pattern_problem,
    takes,
    url_problem,
)
from shared.errors import Conflict, FieldProblem, InvalidInput, NotFound
from shared.events import (
    SOURCE,
    WORKER_SOURCE,
    EventType,
    WebhookDisabledData,
    WebhookDisabledEvent,
    WebhookPingData,
    WebhookPingEvent,
    new_event_id,
)
from shared.repositories.webhooks import DueDelivery
from shared.secret_box import SecretBox, SecretUnreadable
from shared.services.history import decode_cursor_parts, encode_cursor_parts
from shared.services.projections import claimed_events
from shared.services.references import parse_id
from shared.services.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

# The event types an endpoint can subscribe to (webhook.ping is sent to one endpoint on request).
SUBSCRIBABLE = tuple(t.value for t in EventType if t is not EventType.WEBHOOK_PING)
MAX_WEBHOOKS = 100
GONE_REASON = "the endpoint answered 410 Gone"
UNREADABLE = (
    "This webhook's signing secret was encrypted with a key WEBHOOK_SECRET_KEY no longer holds, so "
    "nothing can be signed with it: rotate its secret (POST /v1/webhooks/{id}/rotate-secret)."
)


class WebhookNotFound(NotFound):
    def __init__(self, object_id: str) -> None:
        super().__init__("Webhook", object_id)


class DeliveryNotFound(NotFound):
    def __init__(self, object_id: str) -> None:
        super().__init__("Delivery", object_id)


class Sender(Protocol):
    """How deliveries reach endpoints (shared.webhook_http.WebhookSender)."""

    user_agent: str

    async def url_refusal(self, url: str) -> str | None: ...
    async def send(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult: ...


@dataclass(frozen=True)
class Created:
    endpoint: WebhookEndpoint
    secret: str  # shown once


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[Delivery]
    next_cursor: str | None


# ---- endpoints ----------------------------------------------------------------------------------


def _checked_events(events: Sequence[str]) -> list[str]:
    problems = [
        FieldProblem(f"events[{index}]", problem)
        for index, pattern in enumerate(events)
        if (problem := pattern_problem(pattern, SUBSCRIBABLE))
    ]
    if not events:
        problems.append(FieldProblem("events", "give at least one event type or pattern"))
    if len(events) > MAX_PATTERNS:
        problems.append(FieldProblem("events", f"give at most {MAX_PATTERNS}"))
    if problems:
        raise InvalidInput(problems)
    return list(dict.fromkeys(events))


async def _checked_url(url: str, sender: Sender, allow_http: bool) -> str:
    if problem := url_problem(url, allow_http):
        raise InvalidInput.one("url", problem)
    if refusal := await sender.url_refusal(url):
        raise InvalidInput.one("url", refusal)
    return url


async def create(
    uow: UnitOfWork,
    box: SecretBox,
    sender: Sender,
    allow_http: bool,
    org_id: UUID,
    url: str,
    events: Sequence[str],
    description: str,
    enabled: bool,
) -> Created:
    checked = _checked_events(events)
    await _checked_url(url, sender, allow_http)
    secret = mint_secret()
    async with uow, uow.transaction():
        await uow.webhooks.lock_organisation(org_id)
        if await uow.webhooks.count(org_id) >= MAX_WEBHOOKS:
            raise Conflict(f"An organisation has at most {MAX_WEBHOOKS} webhooks; delete one first.")
        endpoint = await uow.webhooks.insert(org_id, url, checked, description, enabled, box.seal(secret))
    return Created(endpoint, secret)


def _endpoint_id(webhook_id: str) -> UUID:
    row_id = parse_id(webhook_id)
    if row_id is None:
        raise WebhookNotFound(webhook_id)
    return row_id


async def get(uow: UnitOfWork, org_id: UUID, webhook_id: str) -> WebhookEndpoint:
    found = await uow.webhooks.get(org_id, _endpoint_id(webhook_id))
    if found is None:
        raise WebhookNotFound(webhook_id)
    return found


async def list_all(uow: UnitOfWork, org_id: UUID) -> list[WebhookEndpoint]:
    return await uow.webhooks.list_endpoints(org_id)


async def change(
    uow: UnitOfWork,
    sender: Sender,
    allow_http: bool,
    org_id: UUID,
    webhook_id: str,
    changes: dict[str, Any],
    expected: Expected | None,
) -> WebhookEndpoint:
    """Change url, events, description or enabled; enabling again ends a failing streak."""
    row_id = _endpoint_id(webhook_id)
    values = dict(changes)
    if "events" in values:
        values["events"] = _checked_events(values["events"])
    if "url" in values:
        await _checked_url(values["url"], sender, allow_http)
    async with uow, uow.transaction():
        current = await uow.webhooks.get(org_id, row_id, lock=True)
        if current is None:
            raise WebhookNotFound(webhook_id)
        check_expected(expected, current.id, current.version, current)
        if values.get("enabled") and not current.enabled:
            values.update(failing_since=None, disabled_at=None, disabled_reason=None)
            await uow.webhooks.resume(row_id)
        elif values.get("enabled") is False and current.enabled:
            values.update(disabled_at=dt.datetime.now(dt.UTC), disabled_reason=None)
        return await uow.webhooks.update(org_id, row_id, values)


async def delete(uow: UnitOfWork, org_id: UUID, webhook_id: str, expected: Expected | None) -> None:
    row_id = _endpoint_id(webhook_id)
    async with uow, uow.transaction():
        current = await uow.webhooks.get(org_id, row_id, lock=True)
        if current is None:
            raise WebhookNotFound(webhook_id)
        check_expected(expected, current.id, current.version, current)
        await uow.webhooks.delete(org_id, row_id)


async def rotate_secret(
    uow: UnitOfWork, box: SecretBox, org_id: UUID, webhook_id: str, expected: Expected | None
) -> Created:
    """A new signing secret; the one it replaces signs too (a second signature) for 24 hours."""
    row_id = _endpoint_id(webhook_id)
    secret = mint_secret()
    async with uow, uow.transaction():
        current = await uow.webhooks.get(org_id, row_id, lock=True)
        if current is None:
            raise WebhookNotFound(webhook_id)
        check_expected(expected, current.id, current.version, current)
        # A secret the key no longer opens (the key was lost) cannot sign: it is dropped, not kept.
        readable = _readable(box, current.secret)
        endpoint = await uow.webhooks.update(
            org_id,
            row_id,
            {
                "secret": box.seal(secret),
                "previous_secret": current.secret if readable else None,
                "previous_secret_until": dt.datetime.now(dt.UTC) + ROTATION_OVERLAP if readable else None,
            },
        )
    return Created(endpoint, secret)


def _readable(box: SecretBox, sealed: bytes) -> bool:
    try:
        box.open(sealed)
    except SecretUnreadable:
        return False
    return True


def signing_secrets(
    box: SecretBox,
    secret: bytes,
    previous: bytes | None,
    previous_until: dt.datetime | None,
    now: dt.datetime,
) -> list[str]:
    """The secrets a delivery is signed with now: the current one (SecretUnreadable when the key
    that sealed it is gone), and the one before a rotation while it still signs and can be read."""
    signing = [box.open(secret)]
    if previous is not None and previous_until is not None and previous_until > now:
        with contextlib.suppress(SecretUnreadable):
            signing.append(box.open(previous))
    return signing


@dataclass(frozen=True)
class PingAnswer:
    delivery_id: UUID
    event_id: str
    result: AttemptResult


async def ping(uow: UnitOfWork, box: SecretBox, sender: Sender, org_id: UUID, webhook_id: str) -> PingAnswer:
    """Send webhook.ping to the endpoint now (enabled or not) and log it as a delivery."""
    endpoint = await get(uow, org_id, webhook_id)
    now = dt.datetime.now(dt.UTC)
    event_id = new_event_id()
    body = (
        WebhookPingEvent(
            id=event_id,
            source=SOURCE,
            type=EventType.WEBHOOK_PING,
            subject=str(endpoint.id),
            time=now,
            orgid=str(org_id),
            data=WebhookPingData(webhook_id=str(endpoint.id), url=endpoint.url),
        )
        .model_dump_json()
        .encode()
    )
    try:
        signing = signing_secrets(
            box, endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_until, now
        )
    except SecretUnreadable:
        raise Conflict(UNREADABLE) from None
    result = await sender.send(
        endpoint.url, delivery_headers(signing, event_id, now, body, sender.user_agent), body
    )
    async with uow, uow.transaction():
        delivery_id = await uow.webhooks.add_sent(
            org_id, endpoint.id, event_id, EventType.WEBHOOK_PING.value, body, result.delivered
        )
        await uow.webhooks.record_attempt(
            delivery_id,
            _attempt(1, result),
            DeliveryStatus.DELIVERED if result.delivered else DeliveryStatus.FAILED,
            None,
        )
    return PingAnswer(delivery_id, event_id, result)


# ---- the delivery log ---------------------------------------------------------------------------


async def deliveries(
    uow: UnitOfWork,
    org_id: UUID,
    webhook_id: str,
    status: DeliveryStatus | None,
    event_type: str | None,
    cursor: str | None,
    limit: int,
) -> DeliveryPage:
    endpoint = await get(uow, org_id, webhook_id)
    after = decode_cursor_parts(cursor) if cursor else None
    found = await uow.webhooks.list_deliveries(org_id, endpoint.id, status, event_type, after, limit + 1)
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if found else None
    return DeliveryPage(found, encode_cursor_parts(last.created_at, last.id) if more and last else None)


async def retry(uow: UnitOfWork, org_id: UUID, webhook_id: str, delivery_id: str) -> Delivery:
    """Make a delivery due now, whatever became of it; the dispatcher sends it at once."""
    endpoint = await get(uow, org_id, webhook_id)
    row_id = parse_id(delivery_id)
    async with uow, uow.transaction():
        found = await uow.webhooks.get_delivery(org_id, endpoint.id, row_id) if row_id else None
        if found is None or row_id is None:
            raise DeliveryNotFound(delivery_id)
        if not endpoint.enabled:
            raise Conflict(
                "The webhook is disabled; enable it (PATCH enabled: true) to send deliveries again."
            )
        if not await uow.webhooks.retry_now(row_id):
            raise Conflict("The delivery is being sent right now; look again in a moment.")
        after = await uow.webhooks.get_delivery(org_id, endpoint.id, row_id)
    assert after is not None
    return after


async def prune_deliveries(uow: UnitOfWork, retention: dt.timedelta) -> int:
    """Delete the deliveries finished longer ago than the retention period, a batch at a time."""
    total = 0
    while pruned := await uow.webhooks.prune(retention, 5000):
        total += pruned
    return total


async def reseal_secrets(uow: UnitOfWork, box: SecretBox) -> int:
    """Encrypt every signing secret again under WEBHOOK_SECRET_KEY's first key (its rotation)."""
    async with uow, uow.transaction():
        rows = await uow.webhooks.all_secrets()
        for endpoint_id, secret, previous in rows:
            await uow.webhooks.set_secrets(
                endpoint_id, box.reseal(secret), box.reseal(previous) if previous is not None else None
            )
    return len(rows)


# ---- the worker: recording and settling deliveries ----------------------------------------------


async def record_deliveries(uow: UnitOfWork, events: Sequence[EventSource]) -> list[bool]:
    """One delivery per event and enabled endpoint of its organisation that takes its type, in
    the consumer's transaction; an event is taken once (by id), as every consumer takes it. For
    each event, whether it was taken now (False for a redelivery)."""
    claimed = await claimed_events(uow, ConsumerName.WEBHOOKS, events)
    fresh = [event for event, new in zip(events, claimed, strict=True) if new]
    if fresh:
        endpoints = await uow.webhooks.enabled_for(list({event.org_id for event in fresh}))
        await uow.webhooks.add_deliveries(
            [
                (event.org_id, endpoint_id, event.id, event.type, event.body)
                for event in fresh
                for endpoint_id, org_id, patterns in endpoints
                if org_id == event.org_id and takes(patterns, event.type)
            ]
        )
    return claimed


async def claim_due(
    uow: UnitOfWork, limit: int, per_endpoint: int, failing_limit: int, lease: dt.timedelta
) -> list[DueDelivery]:
    async with uow, uow.transaction():
        return await uow.webhooks.claim_due(limit, per_endpoint, failing_limit, lease)


def _attempt(n: int, result: AttemptResult) -> Attempt:
    return Attempt(
        n=n,
        at=result.at,
        duration_ms=result.duration_ms,
        status_code=result.status_code,
        error=result.error,
        response_body=result.response_body,
    )


@dataclass(frozen=True)
class Settled:
    status: DeliveryStatus
    next_attempt_at: dt.datetime | None
    disabled: WebhookEndpoint | None


class _LeaseLost(Exception):
    """The claim no longer holds the delivery: what its settlement wrote is undone."""


async def settle(
    uow: UnitOfWork, delivery: DueDelivery, result: AttemptResult, plan: RetryPlan, now: dt.datetime
) -> Settled | None:
    """Log the attempt and decide what comes next: delivered; tried again later; failed for good
    once its retry window (from its first attempt) has passed; the endpoint disabled at once on
    410 Gone, or once its attempts have failed for a whole window (publishing webhook.disabled).
    None when the claim no longer holds the delivery (its lease ran out and passed to another
    dispatcher, or its endpoint was deleted): then nothing is written."""
    n = delivery.attempts + 1
    window_start = delivery.window_started_at or result.at
    next_at: dt.datetime | None = None
    reason: str | None = None
    try:
        async with uow, uow.transaction():
            if result.delivered:
                # The common case, in two statements: the endpoint's row only when it changes.
                # The endpoint before the delivery, as every writer of both locks them (deadlock-free).
                await uow.webhooks.endpoint_delivered(delivery.endpoint_id)
                if not await uow.webhooks.record_attempt(
                    delivery.id, _attempt(n, result), DeliveryStatus.DELIVERED, None, delivery.lease_id
                ):
                    raise _LeaseLost
                return Settled(DeliveryStatus.DELIVERED, None, None)
            failing_since, last_delivered = await uow.webhooks.endpoint_answered(
                delivery.endpoint_id, False, plan.quiet
            )
            if result.status_code == 410:
                status, reason = DeliveryStatus.FAILED, GONE_REASON
            else:
                next_at = plan.next_attempt(
                    window_start, now, delivery.window_attempts + 1, random.uniform(-1, 1)
                )
                status = DeliveryStatus.PENDING if next_at is not None else DeliveryStatus.FAILED
                # Failing all along: attempts in a row for the whole window, or every attempt of a
                # delivery given up, with nothing delivered to the endpoint since its window began.
                streak = failing_since is not None and now - failing_since >= plan.give_up_after
                given_up = status is DeliveryStatus.FAILED and (
                    last_delivered is None or last_delivered < window_start
                )
                if streak or given_up:
                    hours = plan.give_up_after.total_seconds() / 3600
                    reason = f"every attempt failed for {hours:g} hours (the last: {result.error})"
            if not await uow.webhooks.record_attempt(
                delivery.id, _attempt(n, result), status, next_at, delivery.lease_id
            ):
                raise _LeaseLost
            disabled = await uow.webhooks.disable(delivery.endpoint_id, reason) if reason else None
            if disabled is not None:
                await _publish_disabled(uow, disabled, now)
    except _LeaseLost:
        return None
    return Settled(status, next_at, disabled)


async def postpone(uow: UnitOfWork, delivery: DueDelivery, result: AttemptResult, plan: RetryPlan) -> None:
    """An attempt that could not be made for a reason of the server's own (its secret unreadable):
    logged, and tried again later, without counting against the endpoint or the retry window."""
    later = result.at + dt.timedelta(seconds=plan.then_every)
    await uow.webhooks.record_attempt(
        delivery.id,
        _attempt(delivery.attempts + 1, result),
        DeliveryStatus.PENDING,
        later,
        delivery.lease_id,
        counts=False,
    )


async def _publish_disabled(uow: UnitOfWork, endpoint: WebhookEndpoint, now: dt.datetime) -> None:
    event_id = new_event_id()
    body = (
        WebhookDisabledEvent(
            id=event_id,
            source=WORKER_SOURCE,
            type=EventType.WEBHOOK_DISABLED,
            subject=str(endpoint.id),
            time=now,
            orgid=str(endpoint.org_id),
            data=WebhookDisabledData(
                webhook_id=str(endpoint.id),
                url=endpoint.url,
                reason=endpoint.disabled_reason or "",
                disabled_at=endpoint.disabled_at or now,
            ),
        )
        .model_dump_json()
        .encode()
    )
    await uow.outbox.add(UUID(event_id), endpoint.org_id, EventType.WEBHOOK_DISABLED.value, body)
    logger.warning(
        "webhook disabled",
        extra={
            "webhook_id": str(endpoint.id),
            "org_id": str(endpoint.org_id),
            "reason": endpoint.disabled_reason,
        },
    )
