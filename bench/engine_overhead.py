"""Engine overhead per stage and parallel fan-out, measured with the fake provider (no network, no model).

    .venv/bin/python bench/engine_overhead.py [--stages 200] [--latency 0.2] [--members 4]

Prints one JSON object:
  overhead_ms_per_stage  engine time per stage with zero-latency fake models (median of repeats):
                         everything the engine does — prompt rendering, events, trace records — minus nothing
  fanout_ms              wall time of one parallel group of N members that each take LATENCY seconds
  fanout_ratio           fanout_ms / (LATENCY * 1000): 1.0 is perfect concurrency, N is sequential
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coe.providers.fake import FakeScript
from coe.workflows import Engine
from coe.workflows.base import parse_workflow
from tests.fakes import fake_pool


def chain(n: int) -> str:
    stages = ["  - {id: s0, role: expert, prompt: expert}"]
    stages += [f"  - {{id: s{i}, role: reflector, prompt: reflector, inputs: [question, s{i - 1}]}}"
               for i in range(1, n)]
    return "name: chain\nsteps:\n" + "\n".join(stages) + "\n"


def fanout(n: int) -> str:
    members = "\n".join(f"      - {{id: p{i}, role: proposer, prompt: proposer}}" for i in range(n))
    return f"name: fan\nsteps:\n  - parallel:\n{members}\n"


async def overhead(stages: int, repeats: int) -> float:
    wf = parse_workflow(chain(stages), "bench")
    pool, _ = fake_pool({m: FakeScript(["a short answer of a few words"], chunk_chars=8)
                         for m in ("fa/m", "fb/m", "fc/m", "fd/m")})
    engine = Engine(pool)
    per_stage: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        async for _ev in engine.run("How many half hours are in an hour and a half?", workflow=wf,
                                    team=["fa/m", "fb/m"]):
            pass
        per_stage.append((time.perf_counter() - t0) * 1000 / stages)
    return statistics.median(per_stage)


async def fan(members: int, latency: float, repeats: int) -> float:
    wf = parse_workflow(fanout(members), "bench")
    pool, _ = fake_pool({m: FakeScript(["answer"], latency_s=latency) for m in ("fa/m", "fb/m", "fc/m", "fd/m")})
    engine = Engine(pool)
    walls: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        async for _ev in engine.run("q", workflow=wf, team=["fa/m", "fb/m", "fc/m", "fd/m"]):
            pass
        walls.append((time.perf_counter() - t0) * 1000)
    return statistics.median(walls)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", type=int, default=200)
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    over = asyncio.run(overhead(a.stages, a.repeats))
    fan_ms = asyncio.run(fan(a.members, a.latency, a.repeats))
    print(json.dumps({
        "bench": "engine_overhead", "stages": a.stages, "overhead_ms_per_stage": round(over, 3),
        "members": a.members, "member_latency_ms": a.latency * 1000, "fanout_ms": round(fan_ms, 1),
        "fanout_ratio": round(fan_ms / (a.latency * 1000), 3),
        "targets": {"overhead_ms_per_stage": "< 1", "fanout_ms": "<= 220 for 4 x 200 ms"},
    }))


if __name__ == "__main__":
    main()
