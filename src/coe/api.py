"""The Python API: ``await coe.ask("question")`` and ``async for ev in coe.stream("question")``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from coe.config import Settings, load_settings
from coe.errors import InputError
from coe.providers.pool import ModelPool
from coe.types import ChatRequest, Completion, PoolEvent

MAX_QUESTION_CHARS = 200_000


def build_request(question: str, model: str, *, system: str | None = None, max_tokens: int | None = None,
                  temperature: float | None = None) -> ChatRequest:
    q = question.strip()
    if not q:
        raise InputError("the question is empty", hint="pass the question as an argument or on stdin")
    if len(q) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is {len(q):,} characters; the limit is {MAX_QUESTION_CHARS:,}",
                         hint="shorten it, or put long material in the knowledge base")
    if "\x00" in q:
        raise InputError("the question contains NUL bytes (binary input?)", hint="pass text, not a binary file")
    if max_tokens is not None and max_tokens <= 0:
        raise InputError("max_tokens must be positive")
    if temperature is not None and not 0 <= temperature <= 2:
        raise InputError("temperature must be between 0 and 2")
    return ChatRequest.of(model, q, system=system, max_tokens=max_tokens, temperature=temperature)


def default_fallbacks(pool: ModelPool, model: str, limit: int = 2) -> list[str]:
    """Other available models to try when the default one fails: remote first, then embedded."""
    return [m.id for m in pool.available() if m.id != model][:limit]


async def ask(question: str, *, model: str | None = None, fallbacks: Sequence[str] | None = None,
              settings: Settings | None = None, pool: ModelPool | None = None, **kw: object) -> Completion:
    """Answer ``question`` with one model (the default one unless ``model`` is given)."""
    own = pool is None
    pool = pool or ModelPool(settings or load_settings())
    try:
        mid = model or pool.default_model()
        fb = list(fallbacks) if fallbacks is not None else ([] if model else default_fallbacks(pool, mid))
        return await pool.complete(build_request(question, mid, **kw), fb)  # type: ignore[arg-type]
    finally:
        if own:
            await pool.aclose()


async def stream(question: str, *, model: str | None = None, fallbacks: Sequence[str] | None = None,
                 settings: Settings | None = None, pool: ModelPool | None = None,
                 **kw: object) -> AsyncIterator[PoolEvent]:
    """Stream typed events for ``question`` (text deltas, usage, fallbacks, finish)."""
    own = pool is None
    pool = pool or ModelPool(settings or load_settings())
    try:
        mid = model or pool.default_model()
        fb = list(fallbacks) if fallbacks is not None else ([] if model else default_fallbacks(pool, mid))
        async for ev in pool.stream(build_request(question, mid, **kw), fb):  # type: ignore[arg-type]
            yield ev
    finally:
        if own:
            await pool.aclose()
