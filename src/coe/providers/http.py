"""HTTP plumbing for providers: a small transport protocol (aiohttp by default, a mock for tests)
and the one retry policy.

Transports raise :class:`TransportError`; providers turn it into the error tree with the model's name.
"""

from __future__ import annotations

import asyncio
import email.utils
import inspect
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import aiohttp

from coe.config import HttpSettings

TransportFailure = Literal["connect", "connect_timeout", "read_timeout", "broken"]


class TransportError(Exception):
    def __init__(self, kind: TransportFailure, detail: str = "") -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind}: {detail}" if detail else kind)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None

    def __repr__(self) -> str:  # headers carry keys: never print them
        return f"HttpRequest({self.method} {self.url})"


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float
    read_s: float


class HttpResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...

    async def read_chunk(self) -> bytes:
        """The body's next bytes as they arrive; ``b""`` at its end. (A stream reads with this, not
        :meth:`aiter_bytes`: no generator between the socket and the decoder, for every token.)"""
        ...

    async def read(self) -> bytes: ...


class Transport(Protocol):
    def send(self, request: HttpRequest, timeouts: Timeouts) -> AbstractAsyncContextManager[HttpResponse]: ...

    async def aclose(self) -> None: ...


# ---- aiohttp ---------------------------------------------------------------------------------------


class _AiohttpResponse:
    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read_chunk(self) -> bytes:
        try:
            return await self._resp.content.readany()
        except (TimeoutError, aiohttp.ServerTimeoutError) as e:
            raise TransportError("read_timeout", str(e)) from None
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
            raise TransportError("broken", e.__class__.__name__) from None

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        while chunk := await self.read_chunk():
            yield chunk

    async def read(self) -> bytes:
        chunks = [c async for c in self.aiter_bytes()]
        return b"".join(chunks)


def _proxy_configured() -> bool:
    """Honour HTTP(S)_PROXY when set; otherwise skip aiohttp's per-request environment/netrc lookups."""
    import os

    return any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
                                            "ALL_PROXY", "all_proxy"))


class AiohttpTransport:
    """One connection pool per transport, created lazily inside the running event loop."""

    def __init__(self, *, limit: int = 1000) -> None:
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, ttl_dns_cache=300),
                auto_decompress=True, trust_env=_proxy_configured())
        return self._session

    @asynccontextmanager
    async def send(self, request: HttpRequest, timeouts: Timeouts) -> AsyncIterator[HttpResponse]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect_s, sock_read=timeouts.read_s)
        session = self._get_session()
        try:
            cm = session.request(request.method, request.url, headers=dict(request.headers),
                                 data=request.body, timeout=timeout)
            resp = await cm.__aenter__()
        except aiohttp.ClientConnectorError as e:
            raise TransportError("connect", f"cannot connect to {e.host}:{e.port}") from None
        except aiohttp.ConnectionTimeoutError:
            raise TransportError("connect_timeout", f"no connection within {timeouts.connect_s:g}s") from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise TransportError("read_timeout", f"no response within {timeouts.read_s:g}s") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError) as e:
            raise TransportError("broken", e.__class__.__name__) from None
        except aiohttp.InvalidURL as e:
            raise TransportError("connect", f"invalid URL {e}") from None
        try:
            yield _AiohttpResponse(resp)
        finally:
            await cm.__aexit__(None, None, None)

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


# ---- mock (tests, and anyone who wants to script an upstream) -----------------------------------------


@dataclass
class MockResponse:
    """A scripted response. ``chunks`` are sent as-is; ``fail_after`` raises after they are sent."""

    status: int = 200
    body: bytes = b""
    chunks: Sequence[bytes] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    fail_after: TransportError | None = None

    _reader: AsyncIterator[bytes] | None = field(default=None, init=False, repr=False)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        for c in self.chunks if self.chunks is not None else [self.body]:
            await asyncio.sleep(0)
            yield c
        if self.fail_after is not None:
            raise self.fail_after

    async def read_chunk(self) -> bytes:
        if self._reader is None:
            self._reader = self.aiter_bytes()
        async for c in self._reader:
            if c:
                return c
        return b""

    async def read(self) -> bytes:
        return b"".join([c async for c in self.aiter_bytes()])


MockHandler = Callable[[HttpRequest], "MockResponse | Awaitable[MockResponse]"]


class MockTransport:
    """Calls ``handler(request)`` for each request; the handler returns a MockResponse or raises
    TransportError. Records every request in ``requests``."""

    def __init__(self, handler: MockHandler) -> None:
        self.handler = handler
        self.requests: list[HttpRequest] = []

    @asynccontextmanager
    async def send(self, request: HttpRequest, timeouts: Timeouts) -> AsyncIterator[HttpResponse]:
        self.requests.append(request)
        result = self.handler(request)
        if inspect.isawaitable(result):
            result = await result
        yield replace(result)  # a fresh reader: a handler may hand out the same response twice

    async def aclose(self) -> None:
        return None


# ---- retry policy ----------------------------------------------------------------------------------

RETRY_STATUSES = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """Retry 408/409/425/429/5xx and timeouts/connect errors, with full-jitter exponential backoff,
    honouring ``Retry-After`` up to ``retry_after_cap_s`` (longer waits are not retried: the caller's
    fallback to another model is quicker)."""

    max_attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 8.0
    retry_after_cap_s: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @classmethod
    def from_settings(cls, s: HttpSettings) -> RetryPolicy:
        return cls(s.max_attempts, s.backoff_base_s, s.backoff_cap_s, s.retry_after_cap_s)

    @staticmethod
    def should_retry_status(status: int) -> bool:
        return status in RETRY_STATUSES or status >= 500

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1`` (attempt counts from 1)."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when no retry should happen."""
        if attempt >= self.max_attempts:
            return None
        ra = parse_retry_after(headers.get("retry-after") or headers.get("Retry-After")) if headers else None
        if ra is not None:
            return ra if ra <= self.retry_after_cap_s else None
        return self.backoff(attempt)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        secs = float(value)
        return max(0.0, secs) if secs == secs and secs != float("inf") else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())
