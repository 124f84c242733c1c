"""Mind maps of answers: a JSON tree (root, children, labels) from the answer's headings and lists (or its
sentences), rendered as a markdown outline, Mermaid ``mindmap`` text and a self-contained SVG."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from coe.errors import InputError

MAX_LABEL = 36
MAX_CHILDREN = 8
FORMATS = {".svg", ".md", ".mmd", ".json"}
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_ITEM = re.compile(r"^(\s*)(?:[-*+•]|\d+[.)、]|[（(]\d+[)）])\s+(.*)$")
_REFS = re.compile(r"^(参考资料|References)\s*[:：]?\s*$")
_MARKUP = re.compile(r"\*\*|__|`|\[\d{1,3}\]|【\d{1,3}】")
_SENT = re.compile(r"(?<=[。！？!?；;])|(?<=[.])(?=\s)")


@dataclass
class Node:
    label: str
    children: list[Node] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "children": [c.as_dict() for c in self.children]}


def _label(text: str) -> str:
    t = " ".join(_MARKUP.sub("", text).split()).strip(" :：,，。.！!？?；;")
    return t if len(t) <= MAX_LABEL else t[: MAX_LABEL - 1] + "…"


def tree_from_answer(answer: str, question: str = "") -> Node:
    """Deterministic: headings become branches, list items their children (by indentation); an answer with
    neither becomes its first sentences. The reference list is left out."""
    root = Node(_label(question) or "Answer")
    stack: list[tuple[int, Node]] = [(0, root)]  # (level, node); headings use 1–6, list items 10 + indent
    found_structure = False
    for line in answer.splitlines():
        if _REFS.match(line.strip()):
            break
        if h := _HEADING.match(line):
            level, node = len(h.group(1)), Node(_label(h.group(2)))
            found_structure = True
        elif it := _ITEM.match(line):
            level, node = 10 + len(it.group(1).expandtabs(2)) // 2, Node(_label(it.group(2)))
            found_structure = True
        else:
            continue
        if not node.label:
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        parent = stack[-1][1] if stack else root
        if len(parent.children) < MAX_CHILDREN:
            parent.children.append(node)
        stack.append((level, node))
    if not found_structure:
        body = answer.split("\n\n参考资料")[0].split("\n\nReferences")[0]
        sentences = [s for s in (_label(x) for x in _SENT.split(body.replace("\n", " "))) if len(s) > 1]
        root.children = [Node(s) for s in sentences[:MAX_CHILDREN]]
    if len(root.children) == 1 and root.children[0].children:  # a single top heading: make it the root
        only = root.children[0]
        root = Node(root.label if question else only.label, only.children)
    return root


def tree_from_json(data: Any, depth: int = 0) -> Node | None:
    """A model's JSON tree, validated: labels present, at most 4 levels and MAX_CHILDREN per node."""
    if not isinstance(data, dict) or depth > 3:
        return None
    label = _label(str(data.get("label", "")))
    if not label:
        return None
    kids = data.get("children") or []
    children = [c for c in (tree_from_json(k, depth + 1) for k in kids[:MAX_CHILDREN]) if c] if isinstance(
        kids, list) else []
    return Node(label, children)


async def model_tree(pool: Any, model: str, answer: str, question: str) -> Node | None:
    """Ask ``model`` for the tree; None when it fails or returns something unusable (then use the fallback)."""
    from coe.errors import CoeError
    from coe.lang import detect_language
    from coe.types import ChatRequest
    from coe.workflows.prompts import load_template, render

    prompt = render(load_template("mindmap", detect_language(question + answer)),
                    {"question": question, "answer": answer[:6000]})
    try:
        done = await pool.complete(ChatRequest.of(model, prompt, max_tokens=400, temperature=0.0))
    except CoeError:
        return None
    text = done.text
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        tree = tree_from_json(json.loads(text[start : end + 1]))
    except ValueError:
        return None
    return tree if tree is not None and tree.children else None


async def build_tree(answer: str, question: str, pool: Any = None, model: str | None = None) -> tuple[Node, str]:
    """The model's tree when a model is given and it answers usably, else the deterministic one."""
    if pool is not None and model:
        tree = await model_tree(pool, model, answer, question)
        if tree is not None:
            return tree, "model"
    return tree_from_answer(answer, question), "answer"


def to_outline(node: Node, depth: int = 0) -> str:
    lines = [("#" if depth == 0 else "  " * (depth - 1) + "-") + " " + node.label]
    for c in node.children:
        lines.append(to_outline(c, depth + 1))
    return "\n".join(lines)


def _mermaid_text(label: str) -> str:
    return re.sub(r"[()\[\]{}<>\"`]", " ", label).strip() or "…"


def to_mermaid(node: Node) -> str:
    lines = ["mindmap", f"  root(({_mermaid_text(node.label)}))"]

    def walk(n: Node, depth: int) -> None:
        for c in n.children:
            lines.append("  " * (depth + 2) + _mermaid_text(c.label))
            walk(c, depth + 1)

    walk(node, 0)
    return "\n".join(lines)


def _width(label: str) -> float:
    return sum(15.0 if ord(ch) > 0x2E80 else 8.0 for ch in label) + 20


def to_svg(node: Node) -> str:
    """A left-to-right tree, self-contained (no scripts, fonts or links)."""
    col_x: dict[int, float] = {}
    depth_width: dict[int, float] = {}

    def measure(n: Node, d: int) -> None:
        depth_width[d] = max(depth_width.get(d, 0.0), _width(n.label))
        for c in n.children:
            measure(c, d + 1)

    measure(node, 0)
    x = 20.0
    for d in sorted(depth_width):
        col_x[d] = x
        x += depth_width[d] + 40
    row_h, placed = 36.0, []
    counter = [0]

    def place(n: Node, d: int) -> float:
        if not n.children:
            y = 20 + counter[0] * row_h
            counter[0] += 1
        else:
            ys = [place(c, d + 1) for c in n.children]
            y = (ys[0] + ys[-1]) / 2
        placed.append((n, d, y))
        return y

    place(node, 0)
    width, height = x, 20 + max(counter[0], 1) * row_h + 10
    pos = {id(n): (col_x[d], y) for n, d, y in placed}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="14">',
             f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>']
    for n, d, y in placed:
        for c in n.children:
            cx, cy = pos[id(c)]
            x0 = col_x[d] + _width(n.label)
            parts.append(f'<path d="M{x0:.1f},{y + 12:.1f} C{(x0 + cx) / 2:.1f},{y + 12:.1f} '
                         f'{(x0 + cx) / 2:.1f},{cy + 12:.1f} {cx:.1f},{cy + 12:.1f}" fill="none" stroke="#8aa4c8" '
                         f'stroke-width="1.5"/>')
    for n, d, y in placed:
        w = _width(n.label)
        fill, color = ("#2f5d9b", "#ffffff") if d == 0 else ("#eef3fa", "#1d2b3a")
        parts.append(f'<rect x="{col_x[d]:.1f}" y="{y:.1f}" width="{w:.1f}" height="24" rx="6" fill="{fill}" '
                     f'stroke="#2f5d9b"/>')
        parts.append(f'<text x="{col_x[d] + 10:.1f}" y="{y + 17:.1f}" fill="{color}">{escape(n.label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def render(node: Node, fmt: str) -> str:
    if fmt in ("svg", ".svg"):
        return to_svg(node)
    if fmt in ("mermaid", ".mmd"):
        return to_mermaid(node)
    if fmt in ("markdown", "md", ".md"):
        return to_outline(node)
    return json.dumps(node.as_dict(), ensure_ascii=False, indent=1)


def check_output_path(path: str) -> Path:
    p = Path(path).expanduser()
    if p.suffix.lower() not in FORMATS:
        raise InputError(f"--mindmap {path}: use a file ending in {', '.join(sorted(FORMATS))}")
    if not p.parent.is_dir():
        raise InputError(f"--mindmap {path}: folder {p.parent} does not exist")
    return p


def write_mindmap(answer: str, question: str, path: str, tree: Node | None = None) -> Path:
    p = check_output_path(path)
    text = render(tree or tree_from_answer(answer, question), p.suffix.lower())
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
    return p
