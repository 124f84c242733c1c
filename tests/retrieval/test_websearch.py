"""Web search backends on a mock transport (tests never search the real web); follow-up suggestions."""

from __future__ import annotations

import json

import pytest

from coe.config import FileConfig, SearchSettings, Settings
from coe.errors import ConfigError, MissingKeyError, UnavailableError
from coe.providers.fake import FakeScript
from coe.providers.http import HttpRequest, MockResponse, MockTransport
from coe.retrieval.cite import CitationContext
from coe.retrieval.index import Passage
from coe.retrieval.websearch import BraveSearch, SearXNG, web_search


async def test_searxng_results_become_passages() -> None:
    seen: list[HttpRequest] = []

    def handler(req: HttpRequest) -> MockResponse:
        seen.append(req)
        return MockResponse(200, json.dumps({"results": [
            {"title": "Eiffel Tower", "url": "https://example.org/eiffel", "content": "Finished in 1889."},
            {"title": "no url"}]}).encode())

    hits = await SearXNG("http://searx.local/", MockTransport(handler)).search("eiffel tower year", 3)
    assert [(h.title, h.source, h.kb) for h in hits] == [("Eiffel Tower", "https://example.org/eiffel", "web")]
    assert seen[0].url == "http://searx.local/search?q=eiffel+tower+year&format=json"


async def test_brave_sends_the_key_and_parses_results() -> None:
    def handler(req: HttpRequest) -> MockResponse:
        assert req.headers["X-Subscription-Token"] == "k-123"
        return MockResponse(200, json.dumps({"web": {"results": [
            {"title": "Python", "url": "https://python.org", "description": "A language."}]}}).encode())

    b = BraveSearch("k-123", MockTransport(handler))
    assert "k-123" not in repr(b)
    assert [h.text for h in await b.search("python")] == ["A language."]


async def test_backend_failures_are_clear() -> None:
    s = SearXNG("http://searx.local", MockTransport(lambda r: MockResponse(503, b"down")))
    with pytest.raises(UnavailableError, match="HTTP 503"):
        await s.search("x")
    g = SearXNG("http://searx.local", MockTransport(lambda r: MockResponse(200, b"<html>")))
    with pytest.raises(UnavailableError, match="JSON"):
        await g.search("x")


def test_off_by_default_and_config_errors() -> None:
    assert web_search(Settings(env={})) is None
    with pytest.raises(ConfigError, match="searxng_url"):
        web_search(Settings(FileConfig(search=SearchSettings(web="searxng")), env={}))
    with pytest.raises(MissingKeyError, match="BRAVE_API_KEY"):
        web_search(Settings(FileConfig(search=SearchSettings(web="brave")), env={}))


def test_followups_suggest_related_passages() -> None:
    c = CitationContext("zh")
    c.add([Passage(1, "k", "塞翁失马", "s", "塞翁失马，比喻坏事可变好事。"),
           Passage(2, "k", "塞翁得马", "s", "得失无常。")])
    _, extras = c.finalize("塞翁失马，比喻坏事可变好事。")
    assert extras["followups"] == ["「塞翁得马」是什么意思？", "关于「塞翁失马」还有哪些相关内容？"]


async def test_model_mind_map_with_deterministic_fallback() -> None:
    from coe.retrieval.mindmap import build_tree
    from tests.fakes import fake_pool

    good = '```json\n{"label": "塞翁失马", "children": [{"label": "含义", "children": [{"label": "祸福相依"}]}, ' \
           '{"label": "出处", "children": []}]}\n```'
    pool, _ = fake_pool({"fa/m": FakeScript([good]), "fb/m": FakeScript(["not json at all"])})
    tree, by = await build_tree("## A\n- b", "q", pool, "fa/m")
    assert by == "model" and [c.label for c in tree.children] == ["含义", "出处"]
    assert tree.children[0].children[0].label == "祸福相依"
    tree2, by2 = await build_tree("## A\n- b\n## C", "q", pool, "fb/m")
    assert by2 == "answer" and [c.label for c in tree2.children] == ["A", "C"]
