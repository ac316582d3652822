"""Sending webhooks over HTTP: one attempt at a time, to public addresses only.

Every attempt resolves the endpoint's host again (no DNS cache) and refuses to connect when any
address it resolves to is loopback, private, link-local, unique-local, multicast or unspecified,
unless WEBHOOK_ALLOW_PRIVATE_NETWORKS is set: a name whose answer changes after the endpoint was
registered is caught at the delivery. The connection is made to the addresses that were checked,
so nothing resolves in between. No redirect is followed, no proxy from the environment is used,
and at most 64 KiB of an answer is read.
"""

import asyncio
import datetime as dt
import socket
import time
from importlib.metadata import PackageNotFoundError, version

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from shared.domain.webhooks import (
    READ_LIMIT_BYTES,
    AttemptResult,
    address_refusal,
    first_bytes,
    host_and_port,
    url_problem,
)


def user_agent() -> str:
    try:
        own = version("assetflow")
    except PackageNotFoundError:  # run from a checkout that was never installed
        own = "0"
    return f"assetflow-webhooks/{own}"


class AddressRefused(OSError):
    """The endpoint's host resolves to an address no delivery may go to."""


class _GuardedResolver(AbstractResolver):
    """The default resolver, refusing every answer that holds an address deliveries may not reach."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            if kind := address_refusal(result["host"]):
                raise AddressRefused(f"{host} resolves to {result['host']}, {kind}")
        return found

    async def close(self) -> None:
        await self._inner.close()


class WebhookSender:
    """An HTTP client for deliveries; `async with` opens and closes its connections."""

    def __init__(
        self, timeout_seconds: float, allow_private_networks: bool, allow_http: bool, concurrency: int = 100
    ) -> None:
        self._timeout = timeout_seconds
        self._allow_private = allow_private_networks
        self._allow_http = allow_http
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None
        self.user_agent = user_agent()

    async def __aenter__(self) -> "WebhookSender":
        connector = aiohttp.TCPConnector(
            resolver=None if self._allow_private else _GuardedResolver(),
            use_dns_cache=False,
            limit=self._concurrency,
            limit_per_host=0,
            family=socket.AF_UNSPEC,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            auto_decompress=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def url_refusal(self, url: str) -> str | None:
        """Why no delivery could go to this URL's host as it resolves now; None when one could."""
        host, port = host_and_port(url)
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return f"its host {host} does not resolve"
        if self._allow_private:
            return None
        for *_, address in found:
            if kind := address_refusal(str(address[0])):
                return (
                    f"must reach a public address: its host {host} resolves to {address[0]}, {kind} "
                    "(WEBHOOK_ALLOW_PRIVATE_NETWORKS=true lifts this for development)"
                )
        return None

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
        """POST the body; what the endpoint answered (its first KiB), or why it did not."""
        assert self._session is not None, "use the sender inside `async with`"
        at = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        kept: str | None = None
        try:
            # The settings may have changed since the endpoint was registered: checked again.
            if problem := url_problem(url, self._allow_http):
                raise AddressRefused(f"the URL {problem}")
            host, _ = host_and_port(url)
            if not self._allow_private and (kind := _literal_refusal(host)):
                raise AddressRefused(f"{host} is {kind}")
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as answer:
                status = answer.status
                kept = first_bytes(await _read_some(answer.content, READ_LIMIT_BYTES))
                if 300 <= status < 400:
                    error = f"answered {status} (redirects are not followed)"
                elif not 200 <= status < 300:
                    error = f"answered {status}"
        except AddressRefused as exc:
            error = f"refused: {exc}"
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                error = f"refused: {exc.os_error}"
            elif isinstance(exc, aiohttp.ClientConnectorDNSError):
                error = f"its host does not resolve ({exc.os_error})"
            else:
                error = f"cannot connect: {exc.os_error}"
        except TimeoutError:
            error = f"no answer within {self._timeout:g} s"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = round((time.perf_counter() - started) * 1000)
        if error is not None and status is not None and 200 <= status < 300:
            error = None
        return AttemptResult(at, duration_ms, status, error, kept)


def _literal_refusal(host: str) -> str | None:
    """An IP literal as the URL's host is never resolved, so it is checked here: anything with a
    colon is one to aiohttp (a scoped fe80::1%eth0 too), and must be a public address."""
    bare = host.strip("[]")
    if ":" in bare:
        return address_refusal(bare)
    try:
        socket.inet_pton(socket.AF_INET, bare)
    except OSError:
        return None
    return address_refusal(bare)


async def _read_some(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to `limit` bytes of an answer's body; the rest is never read."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)
