#!/usr/bin/env bash
# LiteLLM's proxy in its own virtual environment, for bench/server_overhead.py's comparison column.
# Never installed into the project's .venv. The 1.107.x releases were compromised: this pins 1.108.7
# (override with LITELLM_VERSION, which must not be 1.107.*).
#
#     bash bench/setup_litellm.sh [/tmp/litellm-venv]
set -euo pipefail
VENV="${1:-${LITELLM_VENV:-/tmp/litellm-venv}}"
VERSION="${LITELLM_VERSION:-1.108.7}"
case "$VERSION" in
  1.107.*) echo "refusing litellm $VERSION: the 1.107.x releases were compromised" >&2; exit 1 ;;
esac
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "litellm[proxy]==$VERSION"
"$VENV/bin/python" -c "import importlib.metadata as m; print('litellm', m.version('litellm'))"
