"""Web search backends behind one interface (off by default): SearXNG (self-hosted, JSON API) and the
Brave Search API (commercial, BRAVE_API_KEY). Results become passages like knowledge-base chunks."""

from __future__ import annotations

import json
import zlib
from typing import Any, Protocol
from urllib.parse import urlencode

from coe.config import Settings
from coe.errors import ConfigError, MissingKeyError, UnavailableError
from coe.providers.http import AiohttpTransport, HttpRequest, Timeouts, Transport, TransportError
from coe.retrieval.index import Passage

TIMEOUTS = Timeouts(connect_s=5, read_s=15)


class WebSearch(Protocol):
    name: str

    async def search(self, query: str, n: int = 5) -> list[Passage]: ...


def _passage(title: str, url: str, text: str, rank: int) -> Passage:
    return Passage(chunk_id=-(zlib.crc32(url.encode()) or 1), kb="web", title=title or url, source=url,
                   text=text, score=1.0 / (60 + rank), dense=1.0)


async def _get_json(transport: Transport, url: str, headers: dict[str, str], who: str) -> Any:
    try:
        async with transport.send(HttpRequest("GET", url, headers), TIMEOUTS) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise UnavailableError(who, f"HTTP {resp.status} from web search", hint="check the search backend")
    except TransportError as e:
        raise UnavailableError(who, f"web search unreachable ({e.kind})", hint="check [search] settings") from None
    try:
        return json.loads(body)
    except ValueError:
        raise UnavailableError(who, "web search answered with something other than JSON") from None


class SearXNG:
    name = "searxng"

    def __init__(self, base_url: str, transport: Transport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport or AiohttpTransport()

    async def search(self, query: str, n: int = 5) -> list[Passage]:
        data = await _get_json(self.transport, f"{self.base_url}/search?{urlencode({'q': query, 'format': 'json'})}",
                               {"Accept": "application/json"}, "web/searxng")
        results = data.get("results") if isinstance(data, dict) else None
        return [_passage(str(r.get("title", "")), str(r.get("url", "")), str(r.get("content", "")), i)
                for i, r in enumerate(results or []) if isinstance(r, dict) and r.get("url")][:n]


class BraveSearch:
    name = "brave"
    URL = "https://api.search.brave.com/res/v1/web/search"

    def __init__(self, key: str, transport: Transport | None = None) -> None:
        self._key = key
        self.transport = transport or AiohttpTransport()

    def __repr__(self) -> str:
        return "BraveSearch(key=***)"

    async def search(self, query: str, n: int = 5) -> list[Passage]:
        data = await _get_json(self.transport, f"{self.URL}?{urlencode({'q': query, 'count': n})}",
                               {"Accept": "application/json", "X-Subscription-Token": self._key}, "web/brave")
        web = data.get("web") if isinstance(data, dict) else None
        results = web.get("results") if isinstance(web, dict) else None
        return [_passage(str(r.get("title", "")), str(r.get("url", "")), str(r.get("description", "")), i)
                for i, r in enumerate(results or []) if isinstance(r, dict) and r.get("url")][:n]


def web_search(settings: Settings, transport: Transport | None = None) -> WebSearch | None:
    """The configured backend (``[search] web = "searxng" | "brave"``), or None (the default)."""
    cfg = settings.file.search
    if cfg.web == "none":
        return None
    if cfg.web == "searxng":
        if not cfg.searxng_url:
            raise ConfigError("web = 'searxng' needs searxng_url", key="search.searxng_url")
        return SearXNG(cfg.searxng_url, transport)
    key = settings.env.get("BRAVE_API_KEY")
    if not key:
        raise MissingKeyError("web/brave", "BRAVE_API_KEY")
    return BraveSearch(key, transport)
