"""Labelled examples: the shipped route set and users' JSONL files (``{"query": ..., "category": ...}``)."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from coe.catalog import CATEGORIES
from coe.errors import InputError

Example = tuple[str, str]


def builtin_path(name: str = "train.jsonl") -> Path:
    return Path(str(resources.files("coe.router") / "routes" / name))


def load_jsonl(path: str | Path) -> list[Example]:
    """Read labelled examples; one clear error for a missing file, a bad line or an unknown category."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {p} as UTF-8 text ({e.__class__.__name__})") from None
    out: list[Example] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            query, category = obj["query"], obj["category"]
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{p}:{n}: expected a JSON object with 'query' and 'category'") from None
        if not isinstance(query, str) or not query.strip():
            raise InputError(f"{p}:{n}: 'query' must be a non-empty string")
        if category not in CATEGORIES:
            raise InputError(f"{p}:{n}: unknown category '{category}'", hint=f"use {', '.join(CATEGORIES)}")
        out.append((query, category))
    if not out:
        raise InputError(f"{p}: no examples")
    return out


def fingerprint(examples: list[Example]) -> str:
    h = hashlib.sha256()
    for q, c in examples:
        h.update(f"{c}\t{q}\n".encode())
    return h.hexdigest()[:16]
