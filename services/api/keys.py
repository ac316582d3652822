"""Typed keys for what the app holds."""

import asyncpg
from aiohttp import web

from services.api.metrics import HttpMetrics
from services.api.rate_limits import Limiter
from shared.relay import OutboxRelay
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
METRICS = web.AppKey("metrics", HttpMetrics)
RELAY = web.AppKey("relay", OutboxRelay)
# None when RATE_LIMIT_ENABLED=false.
LIMITER: web.AppKey[Limiter | None] = web.AppKey("limiter")
