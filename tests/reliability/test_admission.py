"""Admission control: a cap on requests in flight, a FIFO queue with a timeout (then 503 + Retry-After), and
lag-based gating that only sheds load the loop itself causes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from coe.config import Settings, parse_config
from coe.providers.fake import FakeScript
from coe.server.limits import Admission, Overloaded, cgroup_cpu_share
from tests.server.conftest import fake_app, serve


async def test_cap_queue_order_and_release() -> None:
    adm = Admission(max_active=2, queue_timeout_s=5)
    r1, r2 = await adm.acquire(), await adm.acquire()
    order: list[int] = []

    async def later(i: int) -> None:
        release = await adm.acquire()
        order.append(i)
        release()

    waiters = [asyncio.create_task(later(i)) for i in range(3)]
    await asyncio.sleep(0.05)
    assert adm.active == 2 and adm.waiting == 3 and order == []
    r1()
    r1()  # releasing twice is harmless
    await asyncio.sleep(0.05)
    r2()
    await asyncio.wait_for(asyncio.gather(*waiters), 5)
    assert order == [0, 1, 2] and adm.active == 0 and adm.waiting == 0


async def test_queue_timeout_and_cancelled_waiters_leave_no_slot_behind() -> None:
    adm = Admission(max_active=1, queue_timeout_s=0.2)
    hold = await adm.acquire()
    with pytest.raises(Overloaded):
        await adm.acquire()
    t = asyncio.create_task(adm.acquire())
    await asyncio.sleep(0.05)
    t.cancel()
    await asyncio.gather(t, return_exceptions=True)
    assert adm.waiting == 0
    hold()
    assert adm.active == 0
    (await adm.acquire())()


async def test_lag_gates_only_when_the_loop_itself_is_busy() -> None:
    adm = Admission(max_active=0, queue_timeout_s=5, max_lag_s=0.05)
    adm._ensure_monitor = lambda: None  # type: ignore[method-assign]  # the test sets the measurements itself
    slots = [await adm.acquire() for _ in range(Admission.MIN_ACTIVE + 2)]
    adm.lag_s, adm.busy = 0.5, 0.2  # lag from other processes: not ours to shed
    slots.append(await asyncio.wait_for(adm.acquire(), 1))
    adm.lag_s, adm.busy = 0.5, 1.0
    waiter = asyncio.create_task(adm.acquire())
    await asyncio.sleep(0.05)
    assert not waiter.done() and adm.waiting == 1
    adm.lag_s = 0.0
    adm._pump(limit=Admission.BURST)
    slots.append(await asyncio.wait_for(waiter, 1))
    for release in slots:
        release()
    assert adm.active == 0


def test_overflow_gets_503_with_retry_after_and_admitted_streams_finish(tmp_path: Path) -> None:
    settings = Settings(parse_config("[server]\nmax_streams = 2\nqueue_timeout_s = 0.3\n", "t.toml"), env={})
    slow = {"fa/m": FakeScript(["x" * 20], chunk_chars=1, token_delay_s=0.05)}
    app, store = fake_app(tmp_path, slow, settings=settings)
    with serve(app, store) as srv:
        async def many() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as c:
                return list(await asyncio.gather(*[c.post(srv.url + "/v1/chat/completions", json={
                    "model": "fa/m", "stream": True, "messages": [{"role": "user", "content": "q"}]})
                    for _ in range(6)]))

        t0 = time.perf_counter()
        rs = asyncio.run(many())
    codes = sorted(r.status_code for r in rs)
    assert codes.count(200) >= 2 and set(codes) <= {200, 503}, codes
    for r in rs:
        if r.status_code == 503:
            assert r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "overloaded"
        else:
            assert r.text.rstrip().endswith("data: [DONE]") and "x" * 1 in r.text
    assert time.perf_counter() - t0 < 20


def test_cpu_quota_is_read_from_cgroup_v1_and_v2(tmp_path: Path) -> None:
    """A container's CPU limit throttles the loop's thread: admission reads the quota to see it as its own load."""
    v1 = tmp_path / "v1"
    (v1 / "cpu" / "kubepods" / "pod1").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu" / "kubepods" / "cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "cpu" / "kubepods" / "cpu.cfs_period_us").write_text("100000\n")
    (v1 / "cpu" / "kubepods" / "pod1" / "cpu.cfs_quota_us").write_text("-1\n")
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/kubepods/pod1\n1:cpu:/kubepods/pod1\n0::/\n")
    assert cgroup_cpu_share(v1, proc) == 0.5  # the parent's quota binds
    v2 = tmp_path / "v2"
    (v2 / "app").mkdir(parents=True)
    (v2 / "cgroup.controllers").write_text("cpu memory\n")
    (v2 / "cpu.max").write_text("max 100000\n")
    (v2 / "app" / "cpu.max").write_text("25000 100000\n")
    proc.write_text("0::/app\n")
    assert cgroup_cpu_share(v2, proc) == 0.25
    (v2 / "app" / "cpu.max").write_text("400000 100000\n")  # four cores: not a limit for one loop
    assert cgroup_cpu_share(v2, proc) == 1.0
    assert cgroup_cpu_share(tmp_path / "none", tmp_path / "missing") == 1.0
