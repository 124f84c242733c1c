"""The store and the process lifecycle: an unusable database at start is one clear line (CLI and server, no
traceback); a hard kill loses no run that was answered; SIGTERM lets open streams finish and stores them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from coe.errors import StoreError
from coe.server import create_app
from coe.store import open_store
from coe.testing import Behaviour, FakeUpstream
from tests.reliability.faultkit import PLANTED_KEY, coe_serve, config_text, settings_for

BAD_STORES = {
    "postgres_refused": "postgresql://coe:s3cret-pw@127.0.0.1:9/coe",
    "sqlite_unwritable_folder": "sqlite:////proc/no-such-dir/coe.db",
    "sqlite_path_is_a_folder": "sqlite:///{tmp}",
}


def _coe(args: list[str], db_url: str, tmp: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COE_DATABASE_URL": db_url, "COE_HOME": str(tmp / "home"), "UP_KEY": PLANTED_KEY}
    return subprocess.run([sys.executable, "-m", "coe", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("kind,command", [(k, ["serve", "--open", "--port", "1"]) for k in BAD_STORES] + [
    ("sqlite_unwritable_folder", ["serve", "--open", "--port", "1", "--workers", "2"])],
    ids=[*BAD_STORES, "workers"])
def test_unusable_store_at_start_is_one_clear_line(kind: str, command: list[str], tmp_path: Path) -> None:
    url = BAD_STORES[kind].format(tmp=tmp_path)
    p = _coe(command, url, tmp_path)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "database" in lines[0], p.stderr
    assert "s3cret-pw" not in p.stderr


def test_unusable_store_in_the_server_factory_is_a_store_error(tmp_path: Path) -> None:
    settings = settings_for({"up": "http://127.0.0.1:9/v1"}, ["up/m"])
    with pytest.raises(StoreError, match="unavailable") as ei:
        create_app(settings, store=open_store(BAD_STORES["postgres_refused"]), open_mode=True)
    assert "s3cret-pw" not in str(ei.value)


def test_ask_with_an_unusable_store_is_one_clear_line(tmp_path: Path) -> None:
    p = _coe(["ask", "hello"], BAD_STORES["sqlite_unwritable_folder"], tmp_path)
    assert p.returncode != 0 and "Traceback" not in p.stderr and p.stderr.startswith("error:")


async def _traffic(url: str, n: int) -> list[str]:
    """``n`` streamed and ``n`` plain requests to ``up/m`` at once; their run ids."""
    async with httpx.AsyncClient(timeout=30) as c:
        async def streamed(i: int) -> str:
            run_id = ""
            async with c.stream("POST", url + "/v1/chat/completions", json={
                    "model": "up/m", "stream": True, "messages": [{"role": "user", "content": f"s{i}"}]}) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data: {") and not run_id:
                        run_id = json.loads(line[6:])["coe"]["run_id"]
            return run_id

        async def plain(i: int) -> str:
            r = await c.post(url + "/v1/chat/completions",
                             json={"model": "up/m", "messages": [{"role": "user", "content": f"p{i}"}]})
            return str(r.json()["coe"]["run_id"])

        return list(await asyncio.gather(*[streamed(i) for i in range(n)], *[plain(i) for i in range(n)]))


def test_hard_kill_loses_no_answered_run(tmp_path: Path) -> None:
    """Every response the client received (streamed or not) has its trace committed: SIGKILL right after,
    restart on the same database, and all runs are there, finished."""
    db = f"sqlite:///{tmp_path / 'kill.db'}"

    with FakeUpstream([Behaviour(text="answer", chunk_chars=2, token_delay_s=0.01)]) as up:
        cfg = config_text({"up": up.base_url}, ["up/m"])
        with coe_serve(tmp_path, cfg, db) as (url, proc):
            ids = asyncio.run(_traffic(url, 10))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        assert all(ids) and len(set(ids)) == 20
        with coe_serve(tmp_path, cfg, db) as (url, _):
            for rid in ids:
                run = httpx.get(f"{url}/v1/coe/runs/{rid}", timeout=10).json()
                assert run["status"] == "ok" and run["answer"] == "answer", run


def test_sigterm_drains_every_open_stream_and_stores_their_traces(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'drain.db'}"

    async def scenario(url: str, proc: subprocess.Popen[bytes]) -> list[tuple[str, str]]:
        started = asyncio.Event()
        async with httpx.AsyncClient(timeout=30) as c:
            async def one(i: int) -> tuple[str, str]:
                text, run_id = [], ""
                async with c.stream("POST", url + "/v1/chat/completions", json={
                        "model": "up/m", "stream": True, "messages": [{"role": "user", "content": f"q{i}"}]}) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data: {"):
                            obj = json.loads(line[6:])
                            run_id = run_id or obj["coe"]["run_id"]
                            for ch in obj.get("choices", []):
                                text.append(ch["delta"].get("content") or "")
                            if "".join(text):
                                started.set()
                        if line == "data: [DONE]":
                            text.append("<DONE>")
                return "".join(text), run_id

            tasks = [asyncio.create_task(one(i)) for i in range(5)]
            await started.wait()
            await asyncio.sleep(0.2)
            proc.send_signal(signal.SIGTERM)  # mid-stream for all five
            return list(await asyncio.gather(*tasks))

    with FakeUpstream([Behaviour(text="abcdefghij", chunk_chars=1, token_delay_s=0.1)]) as up, \
            coe_serve(tmp_path, config_text({"up": up.base_url}, ["up/m"]), db) as (url, proc):
        results = asyncio.run(scenario(url, proc))
        code = proc.wait(30)
        err = proc.stderr.read().decode() if proc.stderr else ""
    assert [t for t, _ in results] == ["abcdefghij<DONE>"] * 5
    assert code in (0, -signal.SIGTERM) and "Traceback" not in err
    store = open_store(db)
    for _, rid in results:
        assert store.get_run(rid).status == "ok"


def test_two_workers_share_one_sqlite_file(tmp_path: Path) -> None:
    """`coe serve --workers 2` on one SQLite file: each process commits traces on its event loop and hands a
    batch to its worker thread when the other process holds the write lock. Every answered run is stored once."""
    db = f"sqlite:///{tmp_path / 'workers.db'}"
    open_store(db).close()

    with FakeUpstream([Behaviour(text="answer", chunk_chars=2, token_delay_s=0.005)]) as up:
        cfg = config_text({"up": up.base_url}, ["up/m"])
        with coe_serve(tmp_path, cfg, db, extra_args=("--workers", "2")) as (url, _):
            ids = asyncio.run(_traffic(url, 40))
    assert all(ids) and len(set(ids)) == 80
    store = open_store(db)
    runs = store.list_runs(200)
    assert sorted(r.id for r in runs) == sorted(ids) and {r.status for r in runs} == {"ok"}
    assert all(store.get_run(rid).answer == "answer" for rid in ids[:5])
