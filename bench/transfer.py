"""The client of the import and export comparisons: one HTTP transfer from a process of its own.

`python -m bench.transfer '<json spec>'` (uvloop, aiohttp) prints one marked JSON line.

- upload: POST `path` with the file as its body (`content_type`), read before the clock starts;
  the time from the request's start to the answer read whole, the status and the answer's JSON.
- download: GET `path`, the body read as it streams in 256 KiB pieces and discarded; the time to
  the first byte and to the last, the bytes and the lines (a CSV's rows plus its header, when no
  cell holds a line break).

Spec keys: mode, base_url, path, token, timeout (seconds); file, content_type (upload).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import aiohttp

from bench.common import emit

PIECE = 256 * 1024


async def upload(spec: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {spec['token']}", "Content-Type": spec["content_type"]}
    timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout", 1800)))
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.perf_counter()
        async with session.post(spec["base_url"] + spec["path"], data=spec["body"], headers=headers) as resp:
            text = await resp.text()
            elapsed = time.perf_counter() - started
            status = resp.status
    try:
        answer: Any = json.loads(text)
    except ValueError:
        answer = text[:2000]
    return {"status": status, "seconds": elapsed, "answer": answer}


async def download(spec: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {spec['token']}"}
    timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout", 1800)))
    size = lines = 0
    first_byte: float | None = None
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.perf_counter()
        async with session.get(spec["base_url"] + spec["path"], headers=headers) as resp:
            status = resp.status
            content_type = resp.headers.get("Content-Type")
            async for piece in resp.content.iter_chunked(PIECE):
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                size += len(piece)
                lines += piece.count(b"\n")
        elapsed = time.perf_counter() - started
    return {
        "status": status,
        "content_type": content_type,
        "bytes": size,
        "lines": lines,
        "seconds": elapsed,
        "first_byte_s": first_byte,
    }


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    if spec["mode"] == "upload":
        with open(spec["file"], "rb") as handle:
            spec["body"] = handle.read()
    import uvloop

    emit(uvloop.run(upload(spec) if spec["mode"] == "upload" else download(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
