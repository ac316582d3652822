"""A fast webhook receiver for the webhooks phase, in a process of its own.

`python -m bench.receiver '<spec>'` listens on 127.0.0.1 (a free port), prints `READY <port>`, and
answers every POST with 204 at once, noting its `webhook-id` and the wall-clock time it arrived
(`time.time()`, comparable with PostgreSQL's clock on the same machine). `GET /received` answers
what it noted, as JSON `[[id, at], ...]`; `POST /reset` forgets it. It runs until killed.
"""

from __future__ import annotations

import json
import socket
import sys
import time

from aiohttp import web


def main(spec_text: str) -> None:
    _ = json.loads(spec_text)  # no options yet; the argument keeps the helpers' calling convention
    received: list[tuple[str, float]] = []

    async def take(request: web.Request) -> web.Response:
        received.append((request.headers.get("webhook-id", ""), time.time()))
        await request.read()
        return web.Response(status=204)

    async def listed(request: web.Request) -> web.Response:
        return web.json_response(received)

    async def reset(request: web.Request) -> web.Response:
        received.clear()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/received", listed)
    app.router.add_post("/reset", reset)
    app.router.add_post("/{tail:.*}", take)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"READY {sock.getsockname()[1]}", flush=True)
    import uvloop

    uvloop.install()
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)


if __name__ == "__main__":
    main(sys.argv[1])
