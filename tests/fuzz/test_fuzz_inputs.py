"""Oversized, binary and random inputs on the API and the CLI: always a 4xx (or an answer) with OpenAI's error
shape, or one line on stderr — never a 5xx, a hang or a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import fake_app, serve

_app, _store = fake_app(Path(tempfile.mkdtemp(prefix="coe-fuzz-")))
URL = "http://coe.test/v1/chat/completions"


async def post(body: bytes, headers: dict[str, str | bytes] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app), timeout=30) as c:
        return await c.post(URL, content=body, headers={"content-type": "application/json", **(headers or {})})


def check(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code >= 400:
        err = r.json()["error"]
        assert err["message"] and err["type"] and "Traceback" not in err["message"]
    elif r.headers["content-type"].startswith("text/event-stream"):
        assert r.text.rstrip().endswith("data: [DONE]")
    else:
        assert r.json()["choices"][0]["message"]["content"]


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=30))
json_any = st.recursive(json_leaf, lambda x: st.one_of(st.lists(x, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), x, max_size=4)),
                        max_leaves=12)
message = st.fixed_dictionaries({}, optional={
    "role": st.one_of(st.sampled_from(["system", "developer", "user", "assistant", "tool", "root"]), json_leaf),
    "content": st.one_of(st.text(max_size=50), json_any, st.lists(st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "input_text", "image_url"]), "text": st.text(max_size=20)}), max_size=3)),
    "name": json_leaf})
body = st.fixed_dictionaries({}, optional={
    "model": st.one_of(st.sampled_from(["coe-concise", "coe-auto", "coe-collab", "fa/m", "nope/x", ""]), json_leaf),
    "messages": st.one_of(st.lists(message, max_size=4), json_any),
    "stream": st.one_of(st.booleans(), json_leaf), "max_tokens": json_leaf, "temperature": json_leaf,
    "top_p": json_leaf, "n": json_leaf, "stop": json_any, "stream_options": json_any,
    "coe": st.one_of(json_any, st.fixed_dictionaries({}, optional={
        "team": st.lists(st.sampled_from(["fa/m", "fb/m", "x/y", ""]), max_size=3),
        "fallbacks": st.lists(st.sampled_from(["fa/m", "nope/x"]), max_size=2)})),
    "extra": json_any})


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body)
def test_random_json_bodies_never_cause_a_5xx(doc: dict[str, Any]) -> None:
    check(asyncio.run(post(json.dumps(doc, allow_nan=True).encode())))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300))
def test_random_bytes_are_a_400(raw: bytes) -> None:
    r = asyncio.run(post(raw))
    check(r)
    assert 400 <= r.status_code < 500


@pytest.mark.parametrize("name,raw,status", [
    ("20 MB body", b'{"model": "fa/m", "messages": [{"role": "user", "content": "' + b"x" * (20 << 20) + b'"}]}', 413),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, 400),
    ("deep nesting in a field", b'{"model": "fa/m", "messages": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400),
    ("300k-character question", json.dumps({"model": "fa/m", "messages": [
        {"role": "user", "content": "长" * 300_000}]}).encode(), 400),
    ("1,001 messages", json.dumps({"model": "fa/m", "messages": [{"role": "user", "content": "x"}] * 1001}).encode(),
     400),
    ("NUL-only content", json.dumps({"model": "fa/m", "messages": [{"role": "user", "content": "\x00\x00"}]}).encode(),
     400),
    ("UTF-16 body", json.dumps({"model": "fa/m", "messages": [{"role": "user", "content": "hi"}]}).encode("utf-16"),
     200),
    ("lone surrogate", b'{"model": "fa/m", "messages": [{"role": "user", "content": "a\\ud800b"}]}', 200),
    ("huge integer", b'{"model": "fa/m", "max_tokens": 1' + b"0" * 5000 + b', "messages": []}', 400),
    ("empty body", b"", 400),
])
def test_pathological_bodies(name: str, raw: bytes, status: int) -> None:
    r = asyncio.run(post(raw))
    check(r)
    assert r.status_code == status, (name, r.status_code, r.text[:200])


def raw_http(url: str, head: bytes, body: bytes) -> bytes:
    """Send bytes no client library would send; return the raw response."""
    import socket
    from urllib.parse import urlparse

    u = urlparse(url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(head + b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


@pytest.mark.parametrize("rid", [b"\xff\x00" * 500, b"abc\x01def", b"id with spaces", b"x" * 5000, b"\x7f"])
def test_binary_and_oversized_headers_are_harmless(rid: bytes, tmp_path: Path) -> None:
    """Through a real server: a request id that could not be echoed safely is replaced, never a 500."""
    app, store = fake_app(tmp_path)
    body = json.dumps({"model": "fa/m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    with serve(app, store) as srv:
        resp = raw_http(srv.url, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"X-Request-ID: " + rid + b"\r\nAuthorization: Bearer " + b"\xe9" * 5000 + b"\r\n", body)
    status = int(resp.split(b" ", 2)[1])
    assert status == 200 or 400 <= status < 500, resp[:300]  # the HTTP parser may refuse it outright
    if status == 200:
        ids = [ln for ln in resp.split(b"\r\n") if ln.lower().startswith(b"x-request-id:")]
        value = ids[0].split(b":", 1)[1].strip()
        assert 1 <= len(value) <= 64 and all(0x21 <= c < 0x7f for c in value)


# ---- CLI ---------------------------------------------------------------------------------------------


def coe(args: list[str], stdin: bytes, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COE_HOME": str(tmp / "home"), "COE_DATABASE_URL": f"sqlite:///{tmp / 'cli.db'}"}
    return subprocess.run([sys.executable, "-m", "coe", *args], input=stdin, capture_output=True, env=env,
                          timeout=120)


@pytest.mark.parametrize("name,data,expect", [
    ("binary stdin", bytes(range(256)) * 40, b"not UTF-8"),
    ("3 MB question", b"x" * 3_000_000, b"limit is"),
    ("NUL bytes", b"abc\x00def", b"NUL"),
    ("empty", b"   \n", b"empty"),
])
def test_cli_ask_rejects_bad_input_in_one_line(name: str, data: bytes, expect: bytes, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from coe.cli.main import app

    r = CliRunner().invoke(app, ["ask", "-"], input=data, env={"COE_HOME": str(tmp_path / "home"),
                                                              "COE_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    assert r.exit_code == 1, (r.exception, r.stderr[-300:])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and expect.decode() in lines[0], r.stderr[-300:]


def test_cli_ask_binary_stdin_in_a_real_process(tmp_path: Path) -> None:
    p = coe(["ask", "-"], bytes(range(256)) * 40, tmp_path)
    assert p.returncode == 1 and b"Traceback" not in p.stderr and p.stderr.startswith(b"error:"), p.stderr[-300:]


def test_cli_kb_add_binary_and_oversized_files(tmp_path: Path) -> None:
    (tmp_path / "noise.md").write_bytes(os.urandom(20_000))
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(200 * 1024 * 1024)  # sparse: 200 MB on paper
    for path in (tmp_path / "noise.md", big):
        p = coe(["kb", "add", str(path), "--kb", "fuzz"], b"", tmp_path)
        assert b"Traceback" not in p.stderr, p.stderr[-800:]
        if p.returncode != 0:
            assert p.stderr.strip().splitlines()[-1].startswith(b"error:")
