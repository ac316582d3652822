"""A webhook receiver on 127.0.0.1, as a subscriber's system would run one: it records every
delivery and answers as each path's script says."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook

HANG = -1  # in a script: never answer
ENDLESS = -2  # in a script: answer 200 with a body that never ends


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def verified(self, secret: str) -> Any:
        """The body, parsed, once `standardwebhooks` verified its signature with `secret`
        (raises WebhookVerificationError otherwise)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    # path -> statuses to answer in turn (the last one for ever after); 200 for a path not named.
    scripts: dict[str, list[int]] = field(default_factory=dict)
    # path -> the body of its answers, when not the default "answer N from PATH".
    bodies: dict[str, bytes] = field(default_factory=dict)
    _answered: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body, time.monotonic()))
        script = self.scripts.get(request.path, [200])
        turn = self._answered.get(request.path, 0)
        self._answered[request.path] = turn + 1
        status = script[min(turn, len(script) - 1)]
        if status == HANG:
            await asyncio.sleep(3600)
        if status == ENDLESS:
            return await self._endless(request)
        body = self.bodies.get(request.path, f"answer {turn + 1} from {request.path}".encode())
        headers = {"Location": self.url("/redirected")} if 300 <= status < 400 else {}
        return web.Response(status=status, body=body, headers=headers)

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse(status=200)
        await answer.prepare(request)
        chunk = b"x" * 16384
        with contextlib.suppress(ConnectionError):
            while True:
                await answer.write(chunk)
        return answer


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.base_url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
