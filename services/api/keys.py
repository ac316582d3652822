"""Typed keys for what the app holds."""

import asyncpg
from aiohttp import web

from services.api.metrics import HttpMetrics
from services.api.rate_limits import Limiter
from shared.relay import OutboxRelay
from shared.secret_box import SecretBox
from shared.settings import Settings
from shared.webhook_http import WebhookSender

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
# A few connections of their own for the tag counters, taken inside a request's transaction (a
# write with an Idempotency-Key runs in one) but committed at once.
APART_POOL = web.AppKey("apart_pool", asyncpg.Pool)
METRICS = web.AppKey("metrics", HttpMetrics)
RELAY = web.AppKey("relay", OutboxRelay)
# None when RATE_LIMIT_ENABLED=false.
LIMITER: web.AppKey[Limiter | None] = web.AppKey("limiter")
# The webhook routes' HTTP client (pings, and checking where a URL resolves), and the box their
# secrets are sealed in: None when WEBHOOK_SECRET_KEY is not set (the routes answer 503).
WEBHOOK_SENDER = web.AppKey("webhook_sender", WebhookSender)
SECRET_BOX: web.AppKey[SecretBox | None] = web.AppKey("secret_box")
