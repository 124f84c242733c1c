"""Reading JSONL files the user hands us: one clear error for a missing file, bad encoding or a bad line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coe.errors import InputError


def read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; an InputError names the file and line otherwise."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {p} as UTF-8 text ({e.__class__.__name__})") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            raise InputError(f"{p}:{n}: not a JSON object")
        out.append((n, obj))
    return out
