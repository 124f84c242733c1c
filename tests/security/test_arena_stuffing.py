"""Arena vote stuffing is refused: one vote per battle (also when votes race), and the per-voter limit follows
the caller's key — naming a different "voter" in each request does not get round it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from coe.arena.repo import DEFAULT_VOTES_PER_MIN
from coe.store.keys import KeyRepo
from tests.server.conftest import fake_app, serve


def battles(url: str, h: dict[str, str], n: int) -> list[str]:
    return [httpx.post(f"{url}/v1/coe/arena/battles", headers=h, json={"prompt": f"p{i}", "n": 2},
                       timeout=30).json()["battle_id"] for i in range(n)]


def test_one_vote_per_battle_even_when_votes_race(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path, open_mode=False)
    key, _ = KeyRepo(store).create("voter")
    h = {"Authorization": f"Bearer {key}"}
    with serve(app, store) as srv:
        (bid,) = battles(srv.url, h, 1)

        async def race() -> list[int]:
            async with httpx.AsyncClient(timeout=60, headers=h) as c:
                rs = await asyncio.gather(*[c.post(f"{srv.url}/v1/coe/arena/battles/{bid}/vote",
                                                   json={"winner": i % 2}) for i in range(20)])
            return [r.status_code for r in rs]

        codes = asyncio.run(race())
        assert codes.count(200) == 1 and all(c == 400 for c in codes if c != 200), codes
        lb = httpx.get(f"{srv.url}/v1/coe/arena/leaderboard?bootstrap=0", headers=h, timeout=120).json()
        assert lb["votes"] == 1


def test_voter_name_in_the_body_does_not_bypass_the_per_key_limit(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path, open_mode=False)
    repo = KeyRepo(store)
    key, _ = repo.create("stuffer")
    other, _ = repo.create("honest")
    h = {"Authorization": f"Bearer {key}"}
    with serve(app, store) as srv:
        ids = battles(srv.url, h, DEFAULT_VOTES_PER_MIN + 2)
        codes = [httpx.post(f"{srv.url}/v1/coe/arena/battles/{bid}/vote", headers=h,
                            json={"winner": 0, "voter": f"sock-puppet-{i}"}).status_code for i, bid in enumerate(ids)]
        assert codes[:DEFAULT_VOTES_PER_MIN] == [200] * DEFAULT_VOTES_PER_MIN
        assert codes[DEFAULT_VOTES_PER_MIN:] == [400, 400]
        last = httpx.post(f"{srv.url}/v1/coe/arena/battles/{ids[-1]}/vote", headers=h, json={"winner": 0})
        assert "too many votes" in last.json()["error"]["message"]
        # another key is not affected
        ok = httpx.post(f"{srv.url}/v1/coe/arena/battles/{ids[-1]}/vote",
                        headers={"Authorization": f"Bearer {other}"}, json={"winner": 1})
        assert ok.status_code == 200


def test_bad_votes_are_refused(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path)
    with serve(app, store) as srv:
        (bid,) = battles(srv.url, {}, 1)
        base = f"{srv.url}/v1/coe/arena/battles"
        for winner in ("zz/none", 7, -1, "G", "", "A" * 100):
            r = httpx.post(f"{base}/{bid}/vote", json={"winner": winner})
            assert r.status_code == 400, (winner, r.status_code)
        assert httpx.post(f"{base}/{'x' * 300}/vote", json={"winner": 0}).status_code == 404
        assert httpx.post(f"{base}/{bid}/vote", json={"winner": 0, "extra": 1}).status_code == 400
        assert httpx.post(f"{base}/{bid}/vote", json={"winner": 0, "comment": "c" * 5000}).status_code == 400
