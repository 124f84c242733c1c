"""Test-wide guards: no outbound network (loopback only), an isolated COE_HOME per test session."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from coe.config import Settings

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise OSError(f"tests refuse outbound network connections (to {address!r}); "
                      "use a mock transport or a loopback server")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        raise OSError(f"tests refuse outbound network connections (to {address!r})")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real keys or user config leak into tests; run from an empty directory."""
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_API_PASSWORD")) or name in ("COE_CONFIG",):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COE_DATABASE_URL", f"sqlite:///{tmp_path / 'coe-test.db'}")


def real_home() -> Path:
    """Where ./install.sh put the embedded models (the user's COE_HOME, default ~/.cache/coe)."""
    return Settings(env=dict(os.environ)).home


@pytest.fixture
def embedded_home() -> Path:
    """COE_HOME with the verified embedded models; fails (not skips) when they are missing."""
    from coe.embedded.specs import EMBEDDED_MODELS
    from coe.embedded.store import is_verified

    home = real_home()
    missing = [s.model_id for s in EMBEDDED_MODELS if s.light and not is_verified(home / "models", s)]
    if missing:
        pytest.fail(f"embedded models missing in {home}: {missing}; run ./install.sh")
    return home


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "coe-home"
    monkeypatch.setenv("COE_HOME", str(home))
    return home
