"""``coe serve``: the OpenAI-compatible server."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from coe.cli.common import fail, settings, state
from coe.errors import CoeError


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    open_mode: Annotated[bool, typer.Option("--open", help="No API keys needed (loopback addresses only).")]
    = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
    graceful_s: Annotated[int, typer.Option("--graceful-timeout", help="Seconds SIGTERM waits for open "
                                                                       "streams to finish.")] = 30,
) -> None:
    """Serve CoE over an OpenAI-compatible HTTP API (POST /v1/chat/completions, GET /v1/models)."""
    import logging

    import uvicorn

    from coe.server.app import create_app, is_loopback
    from coe.server.logs import setup_json_logging

    if open_mode and not is_loopback(host):
        raise fail(f"--open (no API keys) is only allowed on a loopback address, not {host} — "
                   "create keys with `coe keys create --name NAME` instead")
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise fail(f"unknown --log-level '{log_level}' — use debug, info, warning or error")
    setup_json_logging(level)
    common = {"host": host, "port": port, "log_config": None, "timeout_graceful_shutdown": graceful_s,
              "access_log": False}
    if workers > 1:
        os.environ["COE_SERVE_OPEN"] = "1" if open_mode else "0"
        os.environ["COE_SERVE_HOST"] = host
        os.environ["COE_SERVE_LOG_LEVEL"] = log_level.upper()
        if state.config:
            os.environ["COE_CONFIG"] = state.config
        try:  # a bad config or an unusable database fails here, once, in one line
            from coe.store.repo import open_store

            open_store(settings().database_url).close()
        except CoeError as e:
            raise fail(e) from None
        uvicorn.run("coe.server.app:app_from_env", factory=True, workers=workers, **common)  # type: ignore[arg-type]
        return
    try:
        app = create_app(settings(), open_mode=open_mode)
    except CoeError as e:
        raise fail(e) from None
    uvicorn.run(app, **common)  # type: ignore[arg-type]
