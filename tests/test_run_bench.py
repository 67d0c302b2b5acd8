"""benchmarks/run_bench.py: translated question files become prompts in their language, and the
summary counts the replies written in it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import run_bench


def _questions(tmp_path: Path, language: str) -> Path:
    row = {
        "id": 0,
        "question": "计算乘客支付的平均票价。",
        "constraints": "结果保留两位小数。",
        "format": "@mean_fare[mean_fare_value]",
        "file_name": "test_ave.csv",
        "language": language,
    }
    path = tmp_path / "questions_zh.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_a_translated_file_gives_prompts_in_its_language(tmp_path: Path) -> None:
    tasks, language = run_bench.translated_prompts(tmp_path, _questions(tmp_path, "zh"))
    assert language == "zh"
    prompt = tasks[0].prompt
    assert prompt.startswith(
        "给你一个数据文件：" + str(tmp_path / "dabench" / "tables" / "test_ave.csv")
    )
    assert "问题：计算乘客支付的平均票价。" in prompt and "@mean_fare[mean_fare_value]" in prompt


def test_a_language_without_a_prompt_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="has no prompt"):
        run_bench.translated_prompts(tmp_path, _questions(tmp_path, "xx"))


def test_replies_are_counted_by_the_language_of_their_prose() -> None:
    assert run_bench.in_language("平均票价是 34.65。\n@mean_fare[34.65]", "zh")
    assert not run_bench.in_language("The mean fare is 34.65. @mean_fare[34.65]", "zh")
    assert not run_bench.in_language("@country[中国]", "zh")  # only the answer is Chinese
    code = "```python\n# 读取数据\nprint(1)\n```\n@mean[1]"
    assert not run_bench.in_language(code, "zh")  # only a comment in the code is


def test_with_effort_a_record_keeps_the_first_attempt_apart_and_ends_with_the_kept_answer() -> None:
    from _runner import make_record

    events = [
        {"type": "model_done", "text": "@answer[41]"},
        {"type": "notice", "message": "effort 3: attempt 2 of 3, from the request alone"},
        {"type": "model_done", "text": "@answer[42]"},
        {"type": "notice", "message": "effort 3: attempt 3 of 3, from the request alone"},
        {"type": "model_done", "text": "@answer[42]"},
        {"type": "vote", "answer": "@answer[42]", "attempt": 2, "agree": 2, "attempts": 3},
        {"type": "turn_done", "status": "done", "steps": 3, "usage": {}},
    ]
    stdout = "\n".join(json.dumps(e) for e in events)
    rec = make_record(7, stdout, "", 0, 1.0, False)
    assert rec.first_response == "@answer[41]"
    assert rec.response.endswith("@answer[42]") and rec.vote is not None
    assert rec.vote["attempt"] == 2
