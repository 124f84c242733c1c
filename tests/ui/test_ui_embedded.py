"""The web UI with the real embedded models: a collaborate-mode chat with three stage cards and an answer,
an anonymous battle with a vote that updates the leaderboard, the mind map, and a cited answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from coe.config import Settings
from coe.providers.pool import ModelPool
from coe.retrieval.index import KnowledgeBase
from coe.server import create_app
from coe.store import open_store
from tests.server.conftest import Running, serve
from tests.ui.conftest import shot, wait_image

pytestmark = [pytest.mark.ui, pytest.mark.embedded]
SLOW = 240_000  # ms: three small models on two CPU cores


@pytest.fixture
def server(embedded_home: Path, tmp_path: Path) -> Iterator[Running]:
    settings = Settings(home=embedded_home, env={})
    store = open_store(f"sqlite:///{tmp_path / 'ui.db'}")
    app = create_app(settings, pool=ModelPool(settings), store=store, open_mode=True)
    with serve(app, store) as srv:
        yield srv


def test_collaborate_chat_with_stage_cards_and_mind_map(page: Page, server: Running) -> None:
    page.goto(server.url + "/")
    page.select_option("#mode", "collaborate")
    page.fill("#max-tokens", "64")
    page.fill("#prompt", "一个半小时是几个半小时?")
    page.click("#send")
    cards = page.locator(".msg.assistant .card")
    expect(cards).to_have_count(3, timeout=SLOW)
    expect(cards.first.locator(".card-text")).not_to_be_empty(timeout=SLOW)  # stage 1 streams live
    expect(page.locator("#stop")).to_be_visible()
    expect(page.locator(".msg.assistant .actions")).to_be_visible(timeout=SLOW)
    assert [r.lower() for r in cards.locator(".role").all_text_contents()] == ["expert", "reflector", "summarizer"]
    assert cards.locator(".status").all_text_contents() == ["done"] * 3
    models = cards.locator(".model").all_text_contents()
    assert len(set(models)) >= 2, models
    assert page.locator(".msg.assistant .answer").inner_text().strip()
    page.locator(".msg.assistant .stages > summary").click()  # reopen the collapsed cards for the picture
    shot(page, "chat-collaborate")

    page.locator(".msg.assistant .open-mindmap").click()
    wait_image(page.locator("#mindmap-dialog img.mindmap"))
    shot(page, "mindmap")


def test_anonymous_battle_vote_reveals_names_and_updates_the_leaderboard(page: Page, server: Running) -> None:
    page.goto(server.url + "/leaderboard")
    expect(page.locator(".lb-empty")).to_be_visible()
    page.click("nav a[data-route='/arena']")
    page.fill("#arena-max-tokens", "64")
    page.fill("#arena-prompt", "用一句话介绍长城。")
    page.click("#arena-start")
    columns = page.locator(".contestant")
    expect(columns).to_have_count(3, timeout=SLOW)
    expect(columns.locator(".model-name")).to_have_text(["", "", ""])  # anonymous until the vote
    expect(page.locator(".vote-buttons")).to_be_visible(timeout=SLOW)
    page.fill("#arena-comment", "A is clearer")
    page.click("button[data-vote='A']")
    expect(page.locator(".votes .success")).to_be_visible()
    names = columns.locator(".model-name").all_text_contents()
    assert all(n.startswith("embedded/") for n in names) and len(set(names)) == 3
    expect(page.locator(".contestant.winner")).to_have_count(1)
    shot(page, "arena-after-vote", full_page=True)

    page.click("text=See the leaderboard")
    rows = page.locator(".lb-table tbody tr")
    expect(rows).to_have_count(3, timeout=60_000)  # the bootstrap intervals take a few seconds
    expect(rows.first).to_contain_text(names[0])  # the winner ranks first
    expect(page.locator(".lb-plot circle")).to_have_count(3)
    expect(page.locator(".lb-votes")).to_have_text("Votes: 1")
    shot(page, "leaderboard", full_page=True)


def test_cited_answer_from_the_knowledge_base(page: Page, server: Running, tmp_path: Path) -> None:
    doc = tmp_path / "idioms.md"
    doc.write_text("# 塞翁失马\n\n塞翁失马，焉知非福。出自《淮南子·人间训》：边塞上一位老人丢了马，后来马带着"
                   "一匹骏马回来。比喻坏事在一定条件下可以变成好事。\n\n# 守株待兔\n\n出自《韩非子·五蠹》，"
                   "比喻死守狭隘经验，不知变通。\n", encoding="utf-8")
    KnowledgeBase(server.store).add([str(doc)])
    page.goto(server.url + "/")
    page.select_option("#mode", "standard")
    page.fill("#max-tokens", "96")
    page.fill("#prompt", "“塞翁失马”是什么意思?出自哪里?")
    page.click("#send")
    expect(page.locator(".msg.assistant .actions")).to_be_visible(timeout=SLOW)
    refs = page.locator(".msg.assistant .refs li")
    expect(refs.first).to_contain_text("塞翁失马")
    cite = page.locator(".msg.assistant .answer button.cite").first
    expect(cite).to_be_visible()
    cite.click()
    expect(page.locator(f".msg.assistant .refs li[data-n='{cite.inner_text()}']")).to_be_focused()
    shot(page, "chat-citations")
