"""A real `coe serve` app on loopback (uvicorn in a thread) over fake or embedded models."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from coe.config import Settings
from coe.providers.fake import FakeScript
from coe.server import create_app
from coe.store import open_store
from coe.store.repo import Store
from tests.fakes import fake_pool


@dataclass
class Running:
    url: str
    app: FastAPI
    store: Store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: FastAPI, store: Store) -> Iterator[Running]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield Running(f"http://127.0.0.1:{port}", app, store)
    finally:
        server.should_exit = True
        thread.join(10)


def fake_app(tmp_path: Path, scripts: dict[str, FakeScript] | None = None, *, open_mode: bool = True,
             store_url: str | None = None, settings: Settings | None = None) -> tuple[FastAPI, Store]:
    pool, _ = fake_pool(scripts or {m: FakeScript([f"answer from {m}"], chunk_chars=3)
                                    for m in ("fa/m", "fb/m", "fc/m", "fd/m")}, settings=settings)
    store = open_store(store_url or f"sqlite:///{tmp_path / 'server.db'}")
    return create_app(pool.settings, pool=pool, store=store, open_mode=open_mode), store
