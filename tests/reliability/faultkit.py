"""Shared pieces of the fault tests: a config whose vendors point at real loopback fakes, and short timeouts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from coe.config import Settings, parse_config

PLANTED_KEY = "sk-planted-0123456789abcdef"  # must never show up in errors, traces or logs
GOOD_TEXT = "The fallback model's complete answer."
# Short limits so that every fault resolves quickly; the tests allow generous multiples of them.
HTTP = {"timeout_s": 2.0, "connect_timeout_s": 0.5, "read_timeout_s": 0.5, "max_attempts": 2,
        "backoff_base_s": 0.01, "backoff_cap_s": 0.05, "retry_after_cap_s": 1.0}


def config_text(vendors: dict[str, str], models: list[str], http: dict[str, float] | None = None,
                extra: str = "") -> str:
    """TOML: one vendor per base URL (all keyed by UP_KEY), the given ``vendor/model`` ids, short timeouts."""
    lines = ["[http]", *[f"{k} = {v}" for k, v in {**HTTP, **(http or {})}.items()], ""]
    for vid, url in vendors.items():
        lines += [f"[vendors.{vid}]", f'name = "{vid.upper()}"', f'base_url = "{url}"', 'key_env = "UP_KEY"', ""]
    for mid in models:
        lines += ["[[models]]", f'id = "{mid}"', "context_window = 4096", "price_in = 1.0", "price_out = 2.0", ""]
    return "\n".join(lines) + extra


def settings_for(vendors: dict[str, str], models: list[str], http: dict[str, float] | None = None,
                 home: Path | None = None) -> Settings:
    text = config_text(vendors, models, http)
    return Settings(parse_config(text, "test.toml"), home=home, env={"UP_KEY": PLANTED_KEY})


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def coe_serve(tmp: Path, config: str, db_url: str, *,
              extra_args: tuple[str, ...] = ()) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`coe serve --open` in a subprocess; yields (base URL, process). Stopped with SIGTERM (then SIGKILL)."""
    cfg = tmp / "coe.toml"
    cfg.write_text(config)
    port = free_port()
    env = {**os.environ, "UP_KEY": PLANTED_KEY, "COE_DATABASE_URL": db_url, "COE_HOME": str(tmp / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "coe", "--config", str(cfg), "serve", "--open", "--port", str(port),
                             *extra_args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"coe serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline:
                raise RuntimeError("coe serve did not start")
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


async def sse_lines(client: httpx.AsyncClient, url: str, body: dict[str, object]) -> list[str]:
    out: list[str] = []
    async with client.stream("POST", url, json=body) as r:
        assert r.status_code == 200, await r.aread()
        async for line in r.aiter_lines():
            if line:
                out.append(line)
    return out


def run_async(coro: object, timeout: float = 60) -> object:
    return asyncio.run(asyncio.wait_for(coro, timeout))  # type: ignore[arg-type]
