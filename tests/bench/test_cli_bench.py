"""`coe bench` as a user runs it: one-line errors, a run on fake models that resumes, reports (Markdown, JSON,
HTML), and one real offline run on the embedded models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

FAKE_CONFIG = """
[vendors.fk]
name = "Fake"
wire = "fake"
base_url = "fake://"
[[models]]
id = "fk/a"
context_window = 4096
[[models]]
id = "fk/b"
context_window = 4096
[http]
timeout_s = 900
read_timeout_s = 300
"""


def coe(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_PASSWORD"))}
    base.pop("COE_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "coe", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=timeout, check=False)


def one_line_error(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert res.returncode == 1, res
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for n in needles:
        assert n in lines[0]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(path: Path, categories: list[str]) -> None:
    page = path.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    assert {"table", "svg", "rect", "circle", "th", "td"} <= set(parser.tags)
    text = " ".join(parser.text)
    for c in categories:
        assert c in text
    for svg in page.split("<svg")[1:]:  # every plot is well-formed XML
        ET.fromstring("<svg" + svg.split("</svg>")[0] + "</svg>")


def test_bad_input_is_one_line() -> None:
    one_line_error(coe("bench", "run", "--suite", "nope", "--systems", "coe-collab"), "unknown suite 'nope'")
    one_line_error(coe("bench", "run", "--systems", "coe-collab,nope/model"), "unknown system 'nope/model'")
    one_line_error(coe("bench", "report", "feedbeef"), "no benchmark run 'feedbeef'")


def test_fake_models_run_resume_and_report(tmp_path: Path, empty_home: Path) -> None:
    cfg = tmp_path / "coe.toml"
    cfg.write_text(FAKE_CONFIG)
    env = {"COE_HOME": str(empty_home)}
    args = ["--config", str(cfg), "bench", "run", "--suite", "objective", "--limit", "4",
            "--systems", "fk/a,coe-collab", "--no-progress", "--json"]
    first = coe(*args, env=env)
    assert first.returncode == 0, first.stderr
    rep = json.loads(first.stdout)
    run_id = rep["run"]["id"]
    assert rep["run"]["status"] == "done" and rep["run"]["results"] == 8
    assert rep["objective_categories"] == ["code", "decimal", "extraction", "math"]
    assert {s["system"] for s in rep["systems"]} == {"fk/a", "coe-collab"}
    again = coe(*args, env=env)
    assert again.returncode == 0 and f"resuming {run_id[:12]}" in again.stderr
    assert "0 answered" in again.stderr and "8 already done" in again.stderr
    html = tmp_path / "r.html"
    report = coe("bench", "report", run_id[:10], "--html", str(html), env=env)
    assert report.returncode == 0, report.stderr
    assert "| fk/a |" in report.stdout and "| coe-collab |" in report.stdout
    check_html(html, ["code", "decimal", "extraction", "math", "fk/a"])
    listed = coe("bench", "list", "--json", env=env)
    assert run_id in listed.stdout


@pytest.mark.embedded
def test_real_embedded_models_offline(tmp_path: Path, embedded_home: Path) -> None:
    """Two embedded models on one item per objective category (answers capped short to stay quick)."""
    cfg = tmp_path / "coe.toml"
    cfg.write_text("[http]\ntimeout_s = 900\nread_timeout_s = 300\n")
    env = {"COE_HOME": str(embedded_home)}
    html = tmp_path / "real.html"
    args = ["--config", str(cfg), "bench", "run", "--suite", "objective", "--limit", "4", "--max-tokens", "64",
            "--systems", "embedded/smollm2-135m-instruct,embedded/qwen2.5-coder-0.5b-instruct", "--concurrency", "2",
            "--html", str(html), "--no-progress"]
    res = coe(*args, env=env, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "Objective: accuracy by category" in res.stdout
    header = next(ln for ln in res.stdout.splitlines() if ln.startswith("| system |"))
    for col in ("code", "decimal", "extraction", "math", "overall", "cost $", "latency mean s"):
        assert col in header
    rows = [ln for ln in res.stdout.splitlines() if ln.startswith("| embedded/")]
    assert len(rows) == 2 and all("%" in r for r in rows)
    check_html(html, ["code", "math", "embedded/smollm2-135m-instruct"])
    again = coe(*args, env=env, timeout=120)
    assert again.returncode == 0 and "resuming" in again.stderr and "0 answered" in again.stderr
