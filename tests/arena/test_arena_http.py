"""The arena over HTTP (fake models) and end to end in the terminal (embedded models)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import fake_app, serve
from tests.test_cli import coe


def test_http_battle_vote_leaderboard(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path)
    with serve(app, store) as srv:
        base = f"{srv.url}/v1/coe/arena"
        b = httpx.post(f"{base}/battles", json={"prompt": "hi", "n": 3}, timeout=30).json()
        assert b["anonymous"] and b["models"] is None and len(b["answers"]) == 3
        assert httpx.get(f"{base}/battles/{b['battle_id']}").json()["models"] is None
        bad = httpx.post(f"{base}/battles/{b['battle_id']}/vote", json={"winner": "zz/none"})
        assert bad.status_code == 400 and "not a model" in bad.json()["error"]["message"]
        assert httpx.post(f"{base}/battles/nope/vote", json={"winner": 0}).status_code == 404
        voted = httpx.post(f"{base}/battles/{b['battle_id']}/vote", json={"winner": "A", "comment": "best"})
        assert voted.status_code == 200 and len(voted.json()["models"]) == 3
        again = httpx.post(f"{base}/battles/{b['battle_id']}/vote", json={"winner": "B"})
        assert again.status_code == 400 and "already" in again.json()["error"]["message"]
        lb = httpx.get(f"{base}/leaderboard").json()
        assert lb["votes"] == 1 and lb["models"][0]["model"] == voted.json()["models"][0]
        named = httpx.post(f"{base}/battles", json={"prompt": "hi", "models": ["fa/m", "fb/m"], "stream": True},
                           timeout=30)
        lines = [json.loads(ln[6:]) for ln in named.text.splitlines() if ln.startswith("data: {")]
        assert lines[0]["type"] == "battle_started" and lines[0]["models"] == ["fa/m", "fb/m"]
        assert lines[-1]["type"] == "battle_ready" and len(lines[-1]["answers"]) == 2


@pytest.mark.embedded
def test_battle_vote_leaderboard_end_to_end(embedded_home: Path, tmp_path: Path) -> None:
    env = {"COE_HOME": str(embedded_home)}
    two = "embedded/qwen2.5-coder-0.5b-instruct,embedded/smollm2-135m-instruct"
    for winner in ("1", "1", "2"):
        res = coe("arena", "battle", "--models", two, "--max-tokens", "24", "--vote", winner, "--json",
                  "Say hello", env=env, timeout=300)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["voted"]
    anon = coe("arena", "battle", "--anonymous", "--n", "2", "--max-tokens", "24", "--json", "Say hi",
               env=env, timeout=300)
    hidden = json.loads(anon.stdout)
    assert hidden["models"] is None and all(a["model"] is None for a in hidden["answers"])
    assert not any(m in anon.stdout + anon.stderr for m in two.split(","))  # nothing leaks before the vote
    revealed = coe("arena", "vote", hidden["battle_id"], "A", env=env)
    assert revealed.returncode == 0 and "embedded/" in revealed.stdout
    lb = json.loads(coe("arena", "leaderboard", "--json", "--bootstrap", "50", env=env).stdout)
    assert lb["votes"] == 4 and {m["model"] for m in lb["models"]} >= set(two.split(","))
    assert all(m["lower"] <= m["rating"] <= m["upper"] for m in lb["models"])
    f = tmp_path / "arena.jsonl"
    f.write_text(coe("arena", "export", env=env).stdout)
    from_file = json.loads(coe("arena", "leaderboard", "--battles", str(f), "--json", env=env).stdout)
    assert from_file["votes"] == 4
    feedback = [json.loads(x) for x in coe("arena", "export-feedback", "--vendor", "embedded",
                                           env=env).stdout.splitlines()]
    assert len(feedback) >= 3 and all(x["answer"] is not None and x["prompt"] for x in feedback)
