"""Labelled examples: the shipped route set and users' JSONL files (``{"query": ..., "category": ...}``)."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from coe.catalog import CATEGORIES
from coe.errors import InputError
from coe.jsonl import read_jsonl

Example = tuple[str, str]


def builtin_path(name: str = "train.jsonl") -> Path:
    return Path(str(resources.files("coe.router") / "routes" / name))


def load_jsonl(path: str | Path) -> list[Example]:
    """Read labelled examples; one clear error for a missing file, a bad line or an unknown category."""
    p = Path(path)
    out: list[Example] = []
    for n, obj in read_jsonl(p):
        query, category = obj.get("query"), obj.get("category")
        if not isinstance(query, str) or not query.strip() or not isinstance(category, str):
            raise InputError(f"{p}:{n}: expected a JSON object with 'query' and 'category'")
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
