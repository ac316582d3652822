"""Health, readiness and Prometheus metrics."""

import asyncio
import logging

from aiohttp import web
from pydantic import BaseModel

from services.api.endpoint import Endpoint, endpoint
from services.api.keys import METRICS, POOL, RELAY
from services.api.responses import json_response
from shared.db import database_answers

logger = logging.getLogger(__name__)
TAG = "operations"
_READY_TIMEOUT = 2.0


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@endpoint(Endpoint("The process is up", TAG, None, response=Health))
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@endpoint(Endpoint("The database and the broker are reachable", TAG, None, response=Readiness, errors=(503,)))
async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(_READY_TIMEOUT):
            await database_answers(request.app[POOL])
        checks["database"] = "ok"
    except (OSError, TimeoutError, Exception) as exc:  # any failure means not ready
        logger.warning("database not ready", extra={"error": repr(exc)})
        checks["database"] = "unreachable"
    checks["broker"] = "ok" if request.app[RELAY].broker_connected else "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return json_response(
        {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    return web.Response(
        body=request.app[METRICS].render(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", healthz, allow_head=False),
        web.get("/readyz", readyz, allow_head=False),
        web.get("/metrics", metrics, allow_head=False),
    ]
