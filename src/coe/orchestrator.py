"""The one place that wires a request: router → workflow → providers → store."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

from coe.config import Settings
from coe.events import RunEvent
from coe.providers.pool import ModelPool
from coe.retrieval.augment import prepare
from coe.retrieval.index import KnowledgeBase
from coe.router.decompose import SubTask
from coe.router.service import RouterService
from coe.store.repo import Store
from coe.workflows.base import StageSpec, StepSpec, Workflow, load_workflow
from coe.workflows.engine import Engine

AUTO_MODE = "auto"


def decomposed_workflow(subtasks: Sequence[SubTask], candidates: Sequence[Sequence[str]], *,
                        llm_merge: bool) -> Workflow:
    """Each sub-task on the models best at its category, in parallel; then one answer: merged by a model, or
    (``llm_merge=False``, for small local models that garble a merge) the parts joined under headings."""
    tasks = tuple(
        StageSpec(id=f"task_{i}", role="expert", prompt="subtask", model=tuple(c) or None,
                  vars={"task": st.text, "category": st.route.category}, max_tokens=1024)
        for i, (st, c) in enumerate(zip(subtasks, candidates, strict=True), 1))
    merge = StageSpec(id="merge", role="summarizer", prompt="merge", inputs=("question", *[t.id for t in tasks]),
                      prefer="strong", max_tokens=1536, kind="llm" if llm_merge else "join")
    return Workflow(name=AUTO_MODE, description="decomposed", steps=(StepSpec(parallel=tasks),
                                                                       StepSpec(parallel=(merge,))))


async def open_run(question: str, mode: str, *, pool: ModelPool, store: Store | None, settings: Settings,
                   team: Sequence[str] | None = None, fallbacks: Sequence[str] | None = None,
                   router: RouterService | None = None, max_tokens: int | None = None,
                   temperature: float | None = None, kb: str | None = None, use_kb: bool = True,
                   knowledge: KnowledgeBase | None = None) -> AsyncGenerator[RunEvent, None]:
    """Plan one request (route, split, search the knowledge base) and return the engine's event stream, not yet
    started. The server iterates it directly: one generator less for every token than :func:`run_request`."""
    router = router or RouterService(settings, pool)
    engine = Engine(pool, store, route=router.route_fn)
    workflow: Workflow | None = None
    route_info: dict[str, Any] | None = None
    if mode == AUTO_MODE and not team:
        subtasks = await router.subtasks(question)
        if subtasks:
            cands = [router.candidates(st.route.category, st.text) for st in subtasks]
            best = pool.catalog.model(pool.default_model())
            workflow = decomposed_workflow(subtasks, cands, llm_merge=not pool.catalog.vendor_of(best).local)
            route_info = {"category": "multi", "subtasks": [
                {"text": st.text, **st.route.as_dict(), "candidates": c}
                for st, c in zip(subtasks, cands, strict=True)]}
    workflow = workflow or load_workflow(mode, settings.file.workflows_dir)
    aug = None
    if use_kb and (knowledge is not None or store is not None):
        aug = await prepare(question, mode, settings, knowledge or KnowledgeBase(store), kb)  # type: ignore[arg-type]
    return engine.run(question, mode, team=team, fallbacks=fallbacks, workflow=workflow, route_info=route_info,
                      max_tokens=max_tokens, temperature=temperature, variables=aug.variables if aug else None,
                      finalize=aug.finalize if aug else None)


async def run_request(question: str, mode: str, **kwargs: Any) -> AsyncIterator[RunEvent]:
    """One request's events (see :func:`open_run` for the arguments). Retrieval modes search the knowledge base
    (``kb``, or the default one) and cite it."""
    events = await open_run(question, mode, **kwargs)
    async with aclosing(events):
        async for ev in events:
            yield ev
