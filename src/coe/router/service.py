"""The router as the rest of CoE uses it: load (or train once) the configured router, decide, dispatch,
decompose. One instance per process is enough; it is cheap until first used."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from coe.config import Settings
from coe.errors import InputError, ProviderError
from coe.lang import detect_language
from coe.providers.pool import ModelPool
from coe.router.base import RouteDecision, Router
from coe.router.classifier import Thresholds, TrainedRouter
from coe.router.data import Example, builtin_path, fingerprint, load_jsonl
from coe.router.decompose import SubTask, decompose, split_rules
from coe.router.dispatch import candidates
from coe.router.features import Embedder, clean
from coe.types import ChatRequest

PLAN_PROMPT = ("Split the request below into independent tasks, one per line, keeping each task's own words. "
               "If it is a single task, output it unchanged on one line. Output only the tasks.\n\nRequest: {q}")


class RouterService:
    def __init__(self, settings: Settings, pool: ModelPool | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.pool = pool
        self.embedder = embedder or Embedder()
        rs = settings.file.router
        self.thresholds = Thresholds(rs.gate, rs.threshold, rs.default_category)
        self._router: Router | None = None

    @property
    def dir(self) -> Path:
        return self.settings.home / "router"

    # ---- the router -----------------------------------------------------------------------------------

    def router(self) -> Router:
        if self._router is None:
            kind = self.settings.file.router.kind
            if kind == "llm":
                from coe.router.llm import LLMRouter

                pool = self.pool or ModelPool(self.settings)
                model = self.settings.file.router.llm_model or pool.default_model()
                self._router = LLMRouter(pool, model, self.thresholds.default_category)
            elif kind == "centroid":
                from coe.router.embedding import CentroidRouter

                ex = self.training_examples()
                self._router = CentroidRouter(ex, self.embedder, self.thresholds, embeddings=self._embeddings(ex))
            else:
                self._router = self._classifier()
        return self._router

    def training_examples(self) -> list[Example]:
        user = self.dir / "train.jsonl"
        return load_jsonl(user if user.is_file() else builtin_path())

    def _embeddings(self, examples: list[Example]) -> np.ndarray:
        """Training-set embeddings, cached under COE_HOME by content hash (they take a while on CPU)."""
        path = self.dir / f"embeddings-{fingerprint(examples)}.npy"
        try:
            return np.load(path)  # type: ignore[no-any-return]
        except (OSError, ValueError):
            emb = self.embedder.embed([clean(q) for q, _ in examples])
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp.npy")
            np.save(tmp, emb)
            tmp.replace(path)
            return emb

    def _classifier(self) -> TrainedRouter:
        path = self.dir / "classifier.pkl"
        examples = self.training_examples()
        loaded = TrainedRouter.load(path, self.embedder, self.thresholds)
        if loaded is not None and loaded.state.get("fingerprint") == fingerprint(examples):
            return loaded
        return self.train(examples=examples)

    def is_trained(self) -> bool:
        loaded = TrainedRouter.load(self.dir / "classifier.pkl", self.embedder, self.thresholds)
        return loaded is not None and loaded.state.get("fingerprint") == fingerprint(self.training_examples())

    def train(self, file: str | Path | None = None, examples: list[Example] | None = None) -> TrainedRouter:
        """Train the classifier (on ``file``, or the current examples) and make it the active router."""
        if file is not None:
            examples = load_jsonl(file)
            if len({c for _, c in examples}) < 2:
                raise InputError(f"{file}: needs examples of at least two categories")
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / "train.jsonl.tmp"
            tmp.write_text("".join(json.dumps({"query": q, "category": c}, ensure_ascii=False) + "\n"
                                   for q, c in examples), encoding="utf-8")
            tmp.replace(self.dir / "train.jsonl")
        examples = examples or self.training_examples()
        router = TrainedRouter.train(examples, self.embedder, self.thresholds, embeddings=self._embeddings(examples))
        router.save(self.dir / "classifier.pkl")
        self._router = router
        return router

    def reset(self) -> None:
        """Back to the shipped route set."""
        (self.dir / "train.jsonl").unlink(missing_ok=True)
        (self.dir / "classifier.pkl").unlink(missing_ok=True)
        self._router = None

    def clear_cache(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- decisions ------------------------------------------------------------------------------------

    def decide(self, query: str) -> RouteDecision:
        if not query.strip():
            raise InputError("the query is empty", hint="give the text to route")
        return self.router().route(query)

    def candidates(self, category: str, query: str) -> list[str]:
        pool = self.pool or ModelPool(self.settings)
        return candidates(pool, category, detect_language(query))

    async def subtasks(self, query: str) -> list[SubTask]:
        parts: list[str] | None = None
        model = self.settings.file.router.decompose_model
        if model and self.pool is not None:
            try:
                done = await self.pool.complete(ChatRequest.of(model, PLAN_PROMPT.format(q=query[:4000]),
                                                               max_tokens=300, temperature=0.0))
                parts = [ln.strip(" -*0123456789.、)") for ln in done.text.splitlines() if ln.strip()] or None
            except ProviderError:
                parts = None  # the rules decide
        return decompose(query, self.router(), parts or split_rules(query))

    def explain(self, query: str) -> dict[str, Any]:
        d = self.decide(query)
        subs = asyncio.run(self.subtasks(query)) if self.pool is None else None
        return {**d.as_dict(), "candidates": self.candidates(d.category, query),
                "subtasks": [{"text": s.text, "category": s.route.category,
                              "confidence": round(s.route.confidence, 4),
                              "candidates": self.candidates(s.route.category, s.text)} for s in subs or []]}

    async def route_fn(self, question: str) -> tuple[dict[str, Any], list[str]]:
        """The Engine's hook for ``model: routed`` stages."""
        d = await asyncio.to_thread(self.decide, question)
        cands = self.candidates(d.category, question)
        return {**d.as_dict(), "candidates": cands}, cands
