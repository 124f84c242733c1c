"""Answer extraction from free-form small-model output, and the exact scorers built on it."""

from __future__ import annotations

import json

import pytest

from coe.bench.extract import code_block, final_number, json_object, same_value
from coe.bench.suites import get_suite


@pytest.mark.parametrize(("text", "want"), [
    ("so 3 + 4 = 7.\nAnswer: 7", "7"),
    ("Answer: $1,234 dollars", "1234"),
    ("The answer is **42**.", "42"),
    ("We get \\boxed{3.5} in the end, not 4", "3.5"),
    ("<answer>-12</answer> (checked with 5 steps)", "-12"),
    ("答案：120 元", "120"),
    ("first 3, then 5, finally 9.9", "9.9"),
    ("smallest is 7.581960000000000e+02", "7.581960000000000e+02"),
    ("no digits here", None),
])
def test_final_number(text: str, want: str | None) -> None:
    assert final_number(text) == want


def test_json_object_from_fences_prose_and_nested_braces() -> None:
    assert json_object('Sure!\n```json\n{"a": 1, "b": [1, 2]}\n```\nDone.') == {"a": 1, "b": [1, 2]}
    assert json_object('JSON: {"name": "x {y}", "n": {"k": 2}} trailing') == {"name": "x {y}", "n": {"k": 2}}
    assert json_object("{broken, then {\"ok\": true}") == {"ok": True}
    assert json_object("no object") is None


def test_code_block_prefers_longest_python_fence() -> None:
    text = "Here:\n```\nprint(1)\n```\nand\n```python\ndef f(x):\n    return x + 1\n```\n"
    assert code_block(text) == "def f(x):\n    return x + 1"
    assert code_block("```python\ndef g():\n    return 2\n") == "def g():\n    return 2"  # cut off mid-fence
    assert code_block("def h(): pass") == "def h(): pass"


def test_same_value_rules() -> None:
    assert same_value("34", 34) and same_value(16.0, 16) and not same_value("sixteen", 16)
    assert same_value(" Seville ", "seville") and not same_value("Sevilla", "Seville")
    assert same_value(["a", "B"], ["a", "b"]) and not same_value(["b", "a"], ["a", "b"])
    assert same_value(True, True) and not same_value(False, True)


def test_math_and_decimal_use_reasoning_gym_scorers() -> None:
    for name in ("math", "decimal"):
        suite = get_suite(name)
        items = suite.items(3, seed=1)
        assert [i.id for i in items] == [i.id for i in suite.items(3, seed=1)]  # deterministic
        for it in items:
            want = it.data["answer"]
            assert suite.score(it, f"Let me think.\nAnswer: {want}").score == 1.0
            assert suite.score(it, "Answer: 123456789").score == 0.0
            assert suite.score(it, "I don't know").score == 0.0


def test_extraction_scores_key_by_key() -> None:
    suite = get_suite("extraction")
    item = suite.items(1)[0]
    expected = item.data["expected"]
    assert suite.score(item, f"```json\n{json.dumps(expected, ensure_ascii=False)}\n```").score == 1.0
    one_wrong = {**expected, item.data["keys"][0]: "WRONG"}
    sc = suite.score(item, json.dumps(one_wrong, ensure_ascii=False))
    assert sc.score == pytest.approx(1 - 1 / len(expected)) and sc.detail["wrong_keys"] == [item.data["keys"][0]]
    assert suite.score(item, "sorry").score == 0.0


def test_humaneval_canonical_passes_and_wrong_fails() -> None:
    from coe.bench.suites.code import problems

    suite = get_suite("code")
    item = suite.items(1, seed=3)[0]
    prob = next(p for p in problems() if p["task_id"] == item.data["task_id"])
    full = f"```python\n{prob['prompt']}{prob['canonical_solution']}```"
    assert suite.score(item, full).score == 1.0
    assert suite.score(item, prob["canonical_solution"]).score == 1.0  # a bare body continues the prompt
    bad = suite.score(item, f"```python\ndef {prob['entry_point']}(*a):\n    return None\n```")
    assert bad.score == 0.0 and bad.detail["status"] == "failed"


def test_objective_sample_is_balanced() -> None:
    items = get_suite("objective").items(50)
    counts = {c: sum(i.category == c for i in items) for c in ("math", "decimal", "code", "extraction")}
    assert len(items) == 50 and min(counts.values()) >= 12
    subj = get_suite("subjective").items(24)
    assert len({i.category for i in subj}) == 12
