"""The web UI in a real browser over a real server with fake models: chat, stage cards, safety of rendered
answers, stop, history, language, phone size, keyboard, runs and trace viewer, API keys, mind map."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from coe.providers.fake import FakeScript
from coe.retrieval.index import KnowledgeBase
from coe.store.keys import KeyRepo
from tests.server.conftest import Running, fake_app, serve
from tests.ui.conftest import shot, wait_image

pytestmark = pytest.mark.ui

ANSWER = ("## Result\n\n一个半小时是 **3** 个半小时.\n\n- first point\n- second point with `code`\n\n"
          "```python\ndef f(x):\n    return x + 1  # add one\n```\n")


def _scripts(reply: str = ANSWER, **kw: object) -> dict[str, FakeScript]:
    return {m: FakeScript([f"{reply}\n\n— {m}"], chunk_chars=6, **kw) for m in ("fa/m", "fb/m", "fc/m", "fd/m")}  # type: ignore[arg-type]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    app, store = fake_app(tmp_path, _scripts(token_delay_s=0.005))
    with serve(app, store) as srv:
        yield srv


def ask(page: Page, question: str, mode: str = "collaborate") -> None:
    page.select_option("#mode", mode)
    page.fill("#prompt", question)
    page.keyboard.press("Enter")


def test_collaborate_shows_three_stage_cards_then_the_answer(page: Page, server: Running) -> None:
    page.goto(server.url + "/")
    ask(page, "一个半小时是几个半小时?")
    cards = page.locator(".msg.assistant .card")
    expect(cards).to_have_count(3)
    expect(page.locator(".msg.assistant .actions")).to_be_visible()
    assert [r.lower() for r in cards.locator(".role").all_text_contents()] == ["expert", "reflector", "summarizer"]
    expect(cards.locator(".status")).to_have_text(["done", "done", "done"])
    for footer in cards.locator("footer").all_text_contents():
        assert "tokens" in footer and "$" in footer
    answer = page.locator(".msg.assistant .answer")
    expect(answer.locator("h3")).to_have_text("Result")
    expect(answer.locator("li")).to_have_count(2)
    expect(answer.locator(".hl-k").first).to_have_text("def")  # highlighted code
    # the cards collapse into a one-line summary once the answer is done
    assert page.locator(".msg.assistant details.stages").get_attribute("open") is None
    expect(page.locator(".msg.assistant .stages > summary")).to_contain_text("3 stages")
    shot(page, "fake-chat-collaborate")
    # the conversation is kept: reload, open it from the history
    page.reload()
    page.locator(".history-list button.link").first.click()
    expect(page.locator(".msg.user .bubble")).to_have_text("一个半小时是几个半小时?")
    expect(page.locator(".msg.assistant .card")).to_have_count(3)


def test_answers_cannot_inject_html_or_script(page: Page, tmp_path: Path) -> None:
    evil = ('<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script> '
            '[click](javascript:window.pwned=3) **bold** <b>raw</b>')
    app, store = fake_app(tmp_path, _scripts(evil))
    with serve(app, store) as srv:
        page.goto(srv.url + "/")
        ask(page, "hello", mode="concise")
        answer = page.locator(".msg.assistant .answer")
        expect(answer).to_contain_text("<script>window.pwned=2</script>")
        assert answer.locator("img, script, b, a[href^='javascript']").count() == 0
        expect(answer.locator("strong")).to_have_text("bold")
        assert page.evaluate("window.pwned") is None


def test_stop_cancels_the_run_and_the_trace_says_so(page: Page, tmp_path: Path) -> None:
    app, store = fake_app(tmp_path, _scripts("word " * 400, token_delay_s=0.05))
    with serve(app, store) as srv:
        page.goto(srv.url + "/")
        ask(page, "write a long essay", mode="concise")
        expect(page.locator("#stop")).to_be_visible()
        expect(page.locator(".msg.assistant .answer")).to_contain_text("word")
        page.click("#stop")
        expect(page.locator(".msg.assistant .notes")).to_have_text("Stopped.")
        expect(page.locator(".msg.assistant .card .status")).to_have_text("stopped")
        expect(page.locator("#send")).to_be_visible()
        deadline = time.time() + 10
        while time.time() < deadline:
            runs = store.list_runs()
            if runs and runs[0].status != "running":
                break
            time.sleep(0.1)
        assert runs[0].status == "cancelled"


def test_citations_open_the_reference_panel(page: Page, tmp_path: Path) -> None:
    doc = tmp_path / "saiweng.md"
    doc.write_text("# 塞翁失马\n\n塞翁失马，焉知非福。出自《淮南子·人间训》，比喻坏事在一定条件下可以变成好事。\n",
                   encoding="utf-8")
    app, store = fake_app(tmp_path, _scripts("“塞翁失马”比喻坏事可以变成好事 [1]，出自《淮南子》[1]。"))
    KnowledgeBase(store).add([str(doc)])
    with serve(app, store) as srv:
        page.goto(srv.url + "/")
        ask(page, "“塞翁失马”是什么意思?出自哪里?", mode="standard")
        cite = page.locator(".msg.assistant .answer button.cite").first
        expect(cite).to_have_text("1", timeout=60_000)  # the first search loads the embedding model
        refs = page.locator(".msg.assistant .refs")
        expect(refs).to_be_visible()
        expect(refs.locator("li").first).to_contain_text("saiweng.md")
        assert "参考资料" not in page.locator(".msg.assistant .answer").inner_text()  # the list lives in the panel
        cite.click()
        expect(refs.locator("li").first).to_be_focused()
        shot(page, "fake-chat-citations")


def test_language_switch_phone_size_and_keyboard(page: Page, server: Running) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/")
    page.click("#lang-button")
    expect(page.locator("nav a").first).to_have_text("对话")
    page.reload()
    expect(page.locator("nav a").first).to_have_text("对话")  # remembered
    expect(page.locator("#send")).to_have_text("发送")
    # keyboard: the chat page puts the cursor in the prompt; Enter sends
    expect(page.locator("#prompt")).to_be_focused()
    page.keyboard.type("你好")
    page.keyboard.press("Enter")
    expect(page.locator(".msg.assistant .actions")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    shot(page, "fake-phone-zh", full_page=True)
    # elsewhere the skip link comes first, and links work from the keyboard
    page.goto(server.url + "/runs")
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    page.focus("nav a[data-route='/arena']")
    page.keyboard.press("Enter")
    expect(page.locator("#arena-prompt")).to_be_visible()
    assert page.url.endswith("/arena")


def test_runs_list_and_trace_viewer(page: Page, server: Running) -> None:
    page.goto(server.url + "/")
    ask(page, "trace me")
    expect(page.locator(".msg.assistant .actions")).to_be_visible()
    page.click("nav a[data-route='/runs']")
    row = page.locator(".runs-table tbody tr").first
    expect(row).to_contain_text("trace me")
    row.locator("a").click()
    stages = page.locator(".trace-stage")
    expect(stages).to_have_count(3)
    stages.first.locator("summary", has_text="Prompt").click()
    expect(stages.first.locator("pre.prompt")).to_contain_text("trace me")
    expect(stages.first).to_contain_text("tokens")
    assert page.url.endswith("/runs/" + server.store.list_runs()[0].id)
    page.go_back()
    expect(page.locator(".runs-table")).to_be_visible()


def test_mind_map_opens_as_svg(page: Page, server: Running) -> None:
    page.goto(server.url + "/")
    ask(page, "一个半小时是几个半小时?", mode="concise")
    page.locator(".msg.assistant .open-mindmap").click()
    img = page.locator("#mindmap-dialog img.mindmap")
    expect(img).to_be_visible()
    wait_image(img)
    run_id = server.store.list_runs()[0].id
    svg = httpx.get(f"{server.url}/v1/coe/runs/{run_id}/mindmap?format=svg").text
    root = ET.fromstring(svg)  # well-formed
    assert root.tag.endswith("svg") and "first point" in svg
    shot(page, "fake-mindmap")


def test_a_server_with_keys_asks_for_one(page: Page, tmp_path: Path) -> None:
    app, store = fake_app(tmp_path, _scripts(), open_mode=False)
    key, _ = KeyRepo(store).create("ui-test")
    with serve(app, store) as srv:
        page.goto(srv.url + "/")
        dialog = page.locator("#key-dialog")
        expect(dialog).to_be_visible()
        page.fill("#key-input", key)
        page.click("#key-save")
        ask(page, "hello", mode="concise")
        expect(page.locator(".msg.assistant .actions")).to_be_visible()
        expect(page.locator(".msg.assistant .answer")).to_contain_text("Result")


def test_regenerate_replaces_the_last_answer_and_team_picker_fills_roles(page: Page, server: Running) -> None:
    page.goto(server.url + "/")
    page.locator("details.team summary").click()
    page.check("input[value='fd/m']")
    page.check("input[value='fc/m']")
    page.check("input[value='fb/m']")
    expect(page.locator("details.team summary")).to_have_text("Team: fd/m, fc/m, fb/m")
    page.locator("details.team summary").click()
    ask(page, "who answers?")
    expect(page.locator(".msg.assistant .actions")).to_be_visible()
    models = page.locator(".msg.assistant .card .model").all_text_contents()
    assert sorted(models) == ["fb/m", "fc/m", "fd/m"], models  # only the picked models fill the roles
    first_run = server.store.list_runs()[0].id
    page.locator(".msg.assistant .regenerate").click()
    expect(page.locator(".msg.assistant")).to_have_count(1)
    expect(page.locator(".msg.assistant .actions")).to_be_visible()
    expect(page.locator(".msg.user")).to_have_count(1)
    runs = server.store.list_runs()
    assert len(runs) == 2 and runs[0].id != first_run
    assert page.locator(".msg.assistant .meta").inner_text().endswith(runs[0].id[:8])
