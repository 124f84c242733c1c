"""Parallel fan-out over real HTTP: a step of N stages that run concurrently, each on its own upstream with its
own speed, against the slowest of them alone.

    .venv/bin/python bench/fanout.py [--members 4] [--repeats 5] [--chunks 20]

Each member model has its own fake OpenAI-compatible upstream (aiohttp on loopback, in this process) that takes
50·k ms to the first byte and streams 20 chunks 5·k ms apart (k = 1..N), so member k takes ≈ 150·k ms. CoE's
engine runs a one-step workflow with the N stages in parallel, through the real pool, HTTP provider, SSE decoder
and engine (no store). Prints JSON and a markdown table: wall time of the fan-out, of the slowest member alone,
and their ratio (1.0 = perfect concurrency; N = sequential). Target (issue #10): ratio ≤ 1.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

from coe.config import Settings, parse_config
from coe.providers.pool import ModelPool
from coe.testing import Behaviour, FakeUpstream
from coe.workflows import Engine
from coe.workflows.base import parse_workflow


def workflow(n: int) -> str:
    members = "\n".join(f"      - {{id: p{i}, role: proposer, prompt: direct}}" for i in range(n))
    return f"name: fan\nsteps:\n  - parallel:\n{members}\n"


async def run(members: int, repeats: int, chunks: int) -> dict[str, object]:
    ups = [FakeUpstream([Behaviour(text="tok " * chunks, chunk_chars=4, latency_s=0.05 * k,
                                   token_delay_s=0.005 * k)], record=False) for k in range(1, members + 1)]
    for u in ups:
        await u.start()
    toml = "\n".join(f'[vendors.v{k}]\nname = "V{k}"\nbase_url = "{u.base_url}"\nkey_env = "UP_KEY"\n'
                     f'[[models]]\nid = "v{k}/m"\ncontext_window = 4096\n' for k, u in enumerate(ups, 1))
    settings = Settings(parse_config(toml, "bench.toml"), env={"UP_KEY": "bench"})
    pool = ModelPool(settings)
    engine = Engine(pool)
    team = [f"v{k}/m" for k in range(1, members + 1)]
    wf = parse_workflow(workflow(members), "bench")
    one = parse_workflow(workflow(1), "bench")

    async def timed(w: object, t: list[str]) -> float:
        t0 = time.perf_counter()
        async for _ in engine.run("q", workflow=w, team=t, fallbacks=[]):  # type: ignore[arg-type]
            pass
        return (time.perf_counter() - t0) * 1000

    await timed(wf, team)  # warm-up: connections, templates
    fan, slowest = [], []
    for _ in range(repeats):
        fan.append(await timed(wf, team))
        slowest.append(await timed(one, [team[-1]]))
    await pool.aclose()
    for u in ups:
        await u.stop()
    f, s = statistics.median(fan), statistics.median(slowest)
    return {"bench": "fanout", "members": members, "repeats": repeats,
            "member_ms_nominal": [round(50 * k + chunks * 5 * k) for k in range(1, members + 1)],
            "fanout_ms": round(f, 1), "slowest_alone_ms": round(s, 1), "ratio": round(f / s, 3),
            "fanout_ms_all": [round(x, 1) for x in fan], "slowest_ms_all": [round(x, 1) for x in slowest],
            "target": "ratio <= 1.1"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chunks", type=int, default=20)
    a = ap.parse_args()
    res = asyncio.run(run(a.members, a.repeats, a.chunks))
    print(json.dumps(res))
    print("| members | fan-out ms (median) | slowest member alone ms | ratio |\n|---|---|---|---|\n"
          f"| {res['members']} | {res['fanout_ms']} | {res['slowest_alone_ms']} | {res['ratio']} |", file=sys.stderr)


if __name__ == "__main__":
    main()
