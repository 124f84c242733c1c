"""Run untrusted Python (model-written code) in a subprocess: resource limits, a wall timeout, an empty temp
dir as cwd, an empty environment, isolated Python (``-I -S``), no network, no child processes.

Layers, each enough on its own for honest mistakes and together a fair fence for small-model code:
- ``unshare -n`` (a new network namespace with only a down loopback) when the kernel allows it here;
- as root, ``setpriv`` drops to nobody:nogroup so the code cannot touch the user's files;
- RLIMIT_AS (memory), RLIMIT_CPU, RLIMIT_FSIZE (stdout/stderr go to capped files), RLIMIT_NOFILE;
- a preamble that disables sockets, fork/exec/subprocess and a few destructive calls before the code runs.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

NOBODY = 65534

PREAMBLE = '''\
def _coe_sandbox():
    import builtins, os, shutil, socket, subprocess
    def blocked(*a, **k):
        raise OSError("disabled in the CoE benchmark sandbox")
    for name in ("connect", "connect_ex", "bind", "sendto", "listen"):
        setattr(socket.socket, name, blocked)
    socket.create_connection = socket.getaddrinfo = blocked
    subprocess.Popen = subprocess.run = subprocess.call = subprocess.check_output = blocked
    for name in ("system", "fork", "forkpty", "execv", "execve", "execvp", "kill", "killpg", "putenv",
                 "remove", "unlink", "rmdir", "removedirs", "rename", "renames", "truncate", "chmod", "chown"):
        if hasattr(os, name):
            setattr(os, name, blocked)
    shutil.rmtree = shutil.move = blocked
    builtins.help = blocked
_coe_sandbox()
del _coe_sandbox
'''


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 512
    output_kb: int = 256


@dataclass(frozen=True)
class SandboxResult:
    status: str  # passed | failed | timeout | memory | killed
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    isolation: tuple[str, ...]  # which layers were in force

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run([*cmd, "true"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@lru_cache(maxsize=1)
def wrappers() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(command prefix, names of the layers it adds), probed once per process."""
    prefix: list[str] = []
    names: list[str] = []
    for cand in (["unshare", "-n", "--"], ["unshare", "-rn", "--"]):
        if shutil.which(cand[0]) and _works(cand):
            prefix, names = cand, ["netns"]
            break
    if os.geteuid() == 0 and shutil.which("setpriv"):
        drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
        if _works(prefix + drop):
            prefix, names = prefix + drop, [*names, "nobody"]
    return tuple(prefix), tuple(names)


def _limiter(limits: Limits) -> Callable[[], None]:
    mem = limits.memory_mb * 1024 * 1024
    out = limits.output_kb * 1024

    def apply() -> None:  # runs in the child between fork and exec: only setrlimit calls
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (out, out))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_python(code: str, limits: Limits | None = None) -> SandboxResult:
    """Run ``code`` (stdlib only) and report how it ended. Never raises for what the code does."""
    lim = limits or Limits()
    prefix, layers = wrappers()
    with tempfile.TemporaryDirectory(prefix="coe-sandbox-") as tmp:
        work = Path(tmp)
        (work / "main.py").write_text(PREAMBLE + "\n" + code, encoding="utf-8")
        out_path, err_path = work / "stdout.txt", work / "stderr.txt"
        if "nobody" in layers:
            os.chown(work, NOBODY, NOBODY)
        cmd = [*prefix, sys.executable, "-I", "-S", "-B", "main.py"]
        t0 = time.perf_counter()
        with open(out_path, "wb") as fo, open(err_path, "wb") as fe:
            proc = subprocess.Popen(cmd, cwd=work, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                                    stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, start_new_session=True,
                                    preexec_fn=_limiter(lim))
            timed_out = False
            try:
                rc: int | None = proc.wait(timeout=lim.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
                rc = proc.wait()
        dur = time.perf_counter() - t0
        stdout = out_path.read_bytes()[:4096].decode("utf-8", "replace")
        stderr = err_path.read_bytes()[-4096:].decode("utf-8", "replace")
    if timed_out or rc in (-signal.SIGXCPU, -signal.SIGKILL):
        status = "timeout"
    elif rc is not None and rc < 0:
        status = "killed"
    elif "MemoryError" in stderr:
        status = "memory"
    else:
        status = "passed" if rc == 0 else "failed"
    return SandboxResult(status, rc, stdout, stderr, round(dur, 3), ("rlimits", "preamble", *layers))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
