"""With auth on (no --open), every API endpoint needs a valid key: missing, malformed, wrong and revoked keys
get 401 before any other processing. Endpoints that are public on purpose are listed here, and a new /v1 route
is covered automatically."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from coe.store.keys import KeyRepo
from tests.server.conftest import fake_app, serve

PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
          "/v1/coe/info"}  # /v1/coe/info says whether a key is needed, and nothing else


def api_calls(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every /v1 operation in the OpenAPI spec (the spec is generated from the routes themselves)."""
    calls = []
    for path, ops in app.openapi()["paths"].items():
        if path.startswith("/v1/") and path not in PUBLIC:
            calls += [(m.upper(), re.sub(r"\{[^}]+\}", "x1", path)) for m in sorted(ops)]
    return calls


def test_every_v1_endpoint_needs_a_key(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path, open_mode=False)
    repo = KeyRepo(store)
    good, _ = repo.create("good")
    revoked, info = repo.create("revoked")
    repo.revoke(info.id)
    calls = api_calls(app)
    assert ("POST", "/v1/chat/completions") in calls and ("GET", "/v1/models") in calls and len(calls) >= 8
    bad_headers = [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer nope"},
                   {"Authorization": f"Bearer {good}x"}, {"Authorization": f"Bearer {revoked}"},
                   {"Authorization": "Bearer " + "A" * 10_000}]
    with serve(app, store) as srv:
        for method, path in calls:
            for h in bad_headers:
                r = httpx.request(method, srv.url + path, headers=h, json={}, timeout=30)
                assert r.status_code == 401, (method, path, h.get("Authorization", "")[:20], r.status_code)
                assert r.json()["error"]["type"] == "authentication_error"
        ok = httpx.get(srv.url + "/v1/models", headers={"Authorization": f"Bearer {good}"})
        assert ok.status_code == 200
        r = httpx.post(srv.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {good}"},
                       json={"model": "fa/m", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200
        for path in PUBLIC - {"/docs/oauth2-redirect"}:
            assert httpx.get(srv.url + path).status_code in (200, 503), path  # readyz may be 503


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_open_mode_refuses_non_loopback_addresses(host: str) -> None:
    from typer.testing import CliRunner

    from coe.cli.main import app

    r = CliRunner().invoke(app, ["serve", "--open", "--host", host, "--port", "1"])
    assert r.exit_code != 0 and "loopback" in r.output
