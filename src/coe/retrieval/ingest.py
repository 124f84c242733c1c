"""Read sources into documents: txt, md, html, pdf, csv and jsonl rows, and http(s) URLs (public only)."""

from __future__ import annotations

import csv
import hashlib
import io
import ipaddress
import json
import socket
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

from coe.errors import InputError
from coe.retrieval.chunk import chunk_text

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst"}
HTML_SUFFIXES = {".html", ".htm"}
ROW_SUFFIXES = {".csv", ".jsonl"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | ROW_SUFFIXES | {".pdf"}
MAX_FILE_BYTES = 50 * 1024 * 1024
ROW_TITLE_KEYS = ("title", "word", "name", "question", "id")


@dataclass
class Document:
    source: str  # path or URL
    title: str
    chunks: list[tuple[str, str]]  # (title, text) per chunk
    content_hash: str
    kind: str
    embed_texts: list[str] | None = None  # shorter text per chunk for the dense vector (default: the chunk)


class _HTMLText(HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template", "svg"})
    BLOCK = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "pre"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data.strip()
        elif not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    p = _HTMLText()
    p.feed(html)
    text = "".join(p.parts)
    lines = [" ".join(ln.split()) for ln in text.splitlines()]
    return p.title, "\n".join(ln for ln in lines if ln).replace("\n", "\n\n")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rows(kind: str, text: str, source: str) -> list[tuple[str, str]]:
    records: list[dict[str, object]] = []
    if kind == ".csv":
        records = list(csv.DictReader(io.StringIO(text)))
    else:
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise InputError(f"{source}:{i}: not a JSON object") from None
                if not isinstance(obj, dict):
                    raise InputError(f"{source}:{i}: not a JSON object")
                records.append(obj)
    out = []
    for r in records:
        title = next((str(r[k]) for k in ROW_TITLE_KEYS if r.get(k)), "")
        body = "；".join(f"{k}: {v}" for k, v in r.items() if k and v not in (None, "") and k not in ROW_TITLE_KEYS)
        text_row = f"{title}。{body}" if title else body
        if text_row.strip():
            out.append((title or source, text_row[:2000]))
    return out


def parse_bytes(data: bytes, source: str, kind: str) -> Document:
    if kind == ".pdf":
        try:
            from pypdf import PdfReader

            reader = PdfReader(io.BytesIO(data))
            pages = [page.extract_text() or "" for page in reader.pages]
        except Exception as e:  # pypdf raises many types on broken files
            raise InputError(f"{source}: not a readable PDF ({e.__class__.__name__})") from None
        title = Path(source).stem
        text = "\n\n".join(pages)
        chunks = [(title, c) for c in chunk_text(text)]
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"{source}: not UTF-8 text", hint="convert it to UTF-8 first") from None
        if "\x00" in text:
            raise InputError(f"{source}: looks binary (NUL bytes)", hint=f"supported: {', '.join(sorted(SUPPORTED))}")
        if kind in ROW_SUFFIXES:
            chunks = _rows(kind, text, source)
            title = Path(source).stem
        else:
            title = Path(source).stem
            if kind in HTML_SUFFIXES:
                html_title, text = html_to_text(text)
                title = html_title or title
            elif kind in (".md", ".markdown"):
                first = next((ln.lstrip("# ").strip() for ln in text.splitlines() if ln.startswith("# ")), "")
                title = first or title
            chunks = [(title, c) for c in chunk_text(text)]
    if not chunks:
        raise InputError(f"{source}: no text found")
    return Document(source, title, chunks, _digest(data), kind.lstrip("."))


def read_path(path: Path) -> Document:
    kind = path.suffix.lower()
    if kind not in SUPPORTED:
        raise InputError(f"{path}: unsupported file type '{kind or '(none)'}'",
                         hint=f"supported: {', '.join(sorted(SUPPORTED))}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"{path}: {size // 1_000_000} MB is over the {MAX_FILE_BYTES // 1_000_000} MB limit")
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.__class__.__name__})") from None
    return parse_bytes(data, str(path), kind)


def expand(paths: list[str]) -> list[Path]:
    """Files to ingest: given files, and supported files under given folders. Symlinks out of a folder are
    not followed (no path traversal through links)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            raise InputError(f"{raw}: no such file or folder")
        if p.is_dir():
            root = p.resolve()
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in SUPPORTED and f.resolve().is_relative_to(root):
                    out.append(f)
        else:
            out.append(p)
    return out


def check_public_url(url: str, allow_private: bool = False) -> None:
    """Refuse non-http(s) URLs and hosts that resolve to private, loopback or link-local addresses."""
    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise InputError(f"{url}: only http(s) URLs can be added")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(u.hostname, u.port or (443 if u.scheme == "https" else 80))
    except OSError:
        raise InputError(f"{url}: cannot resolve {u.hostname}") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved or addr.is_multicast:
            raise InputError(f"{url}: {u.hostname} is a private or loopback address ({addr})",
                             hint="pass --allow-private to ingest from your own network")
