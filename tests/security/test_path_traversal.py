"""Path traversal: `coe kb add` stays inside the folders it is given (symlinks out are not followed), knowledge
base names can't be paths, private URLs need --allow-private, and no URL of the server — static files, run
traces, mind-map exports — reads a file outside what it serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.server.conftest import fake_app, serve

SECRET = "TOP-SECRET-OUTSIDE-THE-FOLDER"


def coe(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COE_HOME": str(tmp / "home"), "COE_DATABASE_URL": f"sqlite:///{tmp / 'kb.db'}"}
    return subprocess.run([sys.executable, "-m", "coe", *args], capture_output=True, text=True, env=env, timeout=300,
                          stdin=subprocess.DEVNULL)


def cli(args: list[str], tmp: Path) -> Result:
    """The CLI in-process (quicker than a process per case; the subprocess tests cover the real entry point)."""
    from coe.cli.main import app

    return CliRunner().invoke(app, args, env={"COE_HOME": str(tmp / "home"),
                                              "COE_DATABASE_URL": f"sqlite:///{tmp / 'kb.db'}"})


def test_kb_add_does_not_follow_symlinks_out_of_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(f"# Secret\n\n{SECRET}\n")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "ok.md").write_text("# Fine\n\nAn ordinary document about tea.\n")
    (docs / "link.md").symlink_to(outside / "secret.md")
    (docs / "sub" / "up").symlink_to(outside, target_is_directory=True)
    p = coe(["kb", "add", str(docs), "--kb", "trav"], tmp_path)
    assert p.returncode == 0, p.stderr
    listed = json.loads(coe(["kb", "list", "--kb", "trav", "--json"], tmp_path).stdout)
    sources = [d["source"] for d in listed]
    assert any(s.endswith("ok.md") for s in sources)
    assert not any("secret" in s or "link.md" in s or "/up/" in s for s in sources), sources
    hits = coe(["kb", "search", SECRET, "--kb", "trav"], tmp_path)
    assert SECRET not in hits.stdout


@pytest.mark.parametrize("name", ["../../evil", "/etc", "a/b", "..", ".hidden", "x" * 100, "a\\b", "a b"])
def test_kb_names_cannot_be_paths(name: str, tmp_path: Path) -> None:
    (tmp_path / "d.md").write_text("# d\n\ntext\n")
    r = cli(["kb", "add", str(tmp_path / "d.md"), "--kb", name], tmp_path)
    assert (r.exit_code == 1 and r.exception is None) or isinstance(r.exception, SystemExit)
    assert "not a valid knowledge-base name" in r.stderr


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost/x", "http://169.254.169.254/latest",
                                 "file:///etc/passwd", "http://[::1]/x"])
def test_kb_add_refuses_private_and_non_http_urls(url: str, tmp_path: Path) -> None:
    r = cli(["kb", "add", url, "--kb", "web"], tmp_path)
    assert r.exit_code == 1 and r.stderr.startswith("error:"), r.stderr


def test_runs_show_with_a_path_is_just_an_unknown_run(tmp_path: Path) -> None:
    r = cli(["runs", "show", "../../../../etc/passwd"], tmp_path)
    assert r.exit_code == 1 and "root:" not in r.stdout + r.stderr and "no run" in r.stderr


TRAVERSALS = ["/static/../../server/app.py", "/static/..%2f..%2fserver%2fapp.py", "/static/%2e%2e/%2e%2e/app.py",
              "/static/....//....//app.py", "/static//etc/passwd", "/static/%2fetc%2fpasswd",
              "/v1/coe/runs/..%2f..%2f..%2fetc%2fpasswd", "/v1/coe/runs/../../etc/passwd",
              "/v1/coe/runs/%2e%2e%2f%2e%2e%2fetc%2fpasswd/mindmap?format=svg",
              "/v1/coe/runs/x/mindmap?format=../../etc/passwd", "/runs/..%2f..%2fetc%2fpasswd",
              "/%2e%2e/%2e%2e/etc/passwd", "/static/index.html%00.png"]


def test_no_url_reads_files_outside_what_the_server_serves(tmp_path: Path) -> None:
    app, store = fake_app(tmp_path)
    with serve(app, store) as srv:
        for path in TRAVERSALS:
            r = httpx.get(srv.url + path, timeout=30)
            assert r.status_code < 500, (path, r.status_code)
            assert "root:x:0:0" not in r.text and "def create_app" not in r.text and "import " not in r.text, path
