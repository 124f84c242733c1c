"""Serve embedded GGUF models with llama.cpp's OpenAI-compatible server, in-process, on loopback.

Each model is loaded lazily, once per process, the first time it is called; later calls reuse it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from coe.config import EmbeddedSettings
from coe.errors import UnavailableError


class EmbeddedRuntime:
    """Owns the llama.cpp servers of this process. Thread-safe; one per process via :func:`runtime`."""

    def __init__(self) -> None:
        self._servers: dict[Path, tuple[Any, str]] = {}
        self._lock = threading.Lock()

    def loaded(self) -> list[Path]:
        return list(self._servers)

    def base_url_sync(self, model_id: str, path: Path, settings: EmbeddedSettings) -> str:
        with self._lock:
            if path in self._servers:
                return self._servers[path][1]
            try:
                import xllamacpp
            except ImportError:
                raise UnavailableError(model_id, "the llama.cpp runtime (xllamacpp) is not installed",
                                       hint="run ./install.sh or `pip install xllamacpp`") from None
            threads = settings.threads or os.cpu_count() or 1
            p = xllamacpp.CommonParams()
            p.model.path = str(path)
            p.n_ctx = settings.context * settings.parallel
            p.n_parallel = settings.parallel
            p.cpuparams.n_threads = threads
            p.cpuparams_batch.n_threads = threads
            p.warmup = False
            p.verbosity = -1
            p.endpoint_metrics = False
            try:
                server = xllamacpp.Server(p)
            except Exception as e:  # the C++ side raises plain RuntimeErrors
                raise UnavailableError(model_id, f"llama.cpp could not load {path.name} ({e})",
                                       hint="run `coe models pull` to re-verify the file") from None
            url = str(server.listening_address).rstrip("/") + "/v1"
            self._servers[path] = (server, url)
            return url

    async def base_url(self, model_id: str, path: Path, settings: EmbeddedSettings) -> str:
        """Loopback base URL of ``path``'s server, loading it in a worker thread the first time."""
        hit = self._servers.get(path)
        if hit is not None:
            return hit[1]
        return await asyncio.to_thread(self.base_url_sync, model_id, path, settings)


_RUNTIME = EmbeddedRuntime()


def runtime() -> EmbeddedRuntime:
    """The process-wide runtime (models are big: one copy per process)."""
    return _RUNTIME
