"""The code sandbox: time, memory and network limits hold, and nothing of the parent leaks in."""

from __future__ import annotations

import os

from coe.bench.sandbox import Limits, run_python


def test_ok_program_passes() -> None:
    res = run_python("print(sum(range(10)))")
    assert res.passed and res.stdout.strip() == "45"


def test_infinite_loop_is_killed() -> None:
    res = run_python("while True:\n    pass", Limits(wall_s=3, cpu_s=1))
    assert res.status == "timeout" and res.duration_s < 3.5


def test_sleeping_program_hits_the_wall_timeout() -> None:
    res = run_python("import time\ntime.sleep(60)", Limits(wall_s=1.0))
    assert res.status == "timeout" and res.duration_s < 3


def test_memory_hog_is_stopped() -> None:
    res = run_python("x = bytearray(3 * 1024 ** 3)\nprint('allocated')", Limits(memory_mb=256))
    assert not res.passed and res.status == "memory" and "allocated" not in res.stdout


def test_socket_connect_is_blocked_even_through_the_raw_module() -> None:
    for code in ("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=2)",
                 "import _socket\ns = _socket.socket()\ns.settimeout(2)\ns.connect(('1.1.1.1', 53))",
                 "import socket\nsocket.socket().connect(('127.0.0.1', 9))"):
        res = run_python(code)
        assert res.status == "failed", res
        assert "OSError" in res.stderr or "Error" in res.stderr


def test_environment_is_empty_and_cwd_is_a_fresh_dir() -> None:
    os.environ["COE_SANDBOX_SECRET"] = "leak-me"
    try:
        res = run_python("import os\nprint(sorted(os.environ))\nprint(os.getcwd())\nprint(os.listdir('.'))")
    finally:
        del os.environ["COE_SANDBOX_SECRET"]
    assert res.passed and "COE_SANDBOX_SECRET" not in res.stdout
    assert "coe-sandbox-" in res.stdout


def test_child_processes_are_refused() -> None:
    res = run_python("import subprocess\nsubprocess.run(['true'])")
    assert res.status == "failed" and "disabled" in res.stderr
