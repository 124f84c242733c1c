#!/usr/bin/env bash
# CoE: one command installs everything (virtualenv, CoE, the embedded local models) and answers a question.
#   ./install.sh                 full install (embedded pool: Qwen2.5-Coder 1.5B + 0.5B, SmolLM2-135M)
#   COE_LIGHT=1 ./install.sh     skip the 1.1 GB Qwen2.5-Coder-1.5B (small machines)
#   COE_NO_DEMO=1 ./install.sh   do not ask the first question at the end
# Safe to re-run: finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")"

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: CoE needs Python 3.11 or newer ('$PY' is $("$PY" -V 2>&1)); set PYTHON=python3.11" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi

stamp=.venv/.coe-installed
want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! .venv/bin/python -c 'import coe' 2>/dev/null; then
  echo "==> installing CoE and its dependencies"
  .venv/bin/python -m pip install --disable-pip-version-check -q -e '.[dev]'
  echo "$want" > "$stamp"
else
  echo "==> CoE already installed"
fi

echo "==> embedded models"
if [ -n "${COE_LIGHT:-}" ]; then
  .venv/bin/coe models pull --light
else
  .venv/bin/coe models pull
fi

echo "==> router (trains once on the shipped examples)"
.venv/bin/coe route train --if-needed

echo "==> demo knowledge base (Chinese idioms, for cited answers)"
.venv/bin/coe kb demo --if-needed

if [ -z "${COE_NO_DEMO:-}" ]; then
  echo "==> first answer: coe ask \"一个半小时是几个半小时?\""
  .venv/bin/coe ask "一个半小时是几个半小时?"
fi
echo "==> done. Try: .venv/bin/coe ask \"your question\"   ·   .venv/bin/coe doctor"
