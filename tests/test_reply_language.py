"""Answers in the request's language: which requests are in which, and the one ask for it."""

from __future__ import annotations

from loci.approval import auto_approve
from loci.config import Settings
from loci.events import KernelResult, Notice, Output, TurnDone
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.models.scripted import ScriptedModel
from loci.reply_language import (
    CHINESE,
    JAPANESE,
    KOREAN,
    ask_again,
    asked_language,
    in_language,
    language_of,
)
from loci.session import Session

ENGLISH = "338350 is the sum of the squares from 1 to 100."


def test_the_request_language_is_told_by_its_letters() -> None:
    assert language_of("计算 1 到 100 的平方和，并说明结果") is CHINESE
    assert (
        language_of("You are given a data file: /data/sales.csv\n每个月的平均销售额是多少？")
        is CHINESE
    )
    assert language_of("1から50までの素数はいくつありますか？") is JAPANESE  # kanji and kana
    assert language_of("1부터 100까지의 합은 얼마입니까?") is KOREAN
    assert language_of("What is the mean of 中文 in this file?") is None
    assert language_of("```python\nprint('你好世界你好世界')\n```\nWhat does it print?") is None
    assert language_of("12 + 7") is None


def test_only_prose_is_judged() -> None:
    assert in_language(ENGLISH, CHINESE) is False
    assert in_language("338350 是 1 到 100 的平方和。", CHINESE) is True
    assert in_language("结果是 `numpy.sum(values)` 算出的 42。", CHINESE) is True  # code left out
    assert in_language("@mean_sales[1520.5] @max_month[feb]", CHINESE) is None  # fields only
    assert in_language("It is 42.", CHINESE) is None  # too few letters to say
    assert in_language("1から50までの素数は15個あります。", JAPANESE) is True
    assert in_language("1到50之间有15个素数。", JAPANESE) is False  # Chinese, not Japanese
    assert in_language("1から50までの素数は15個あります。", CHINESE) is False


def test_ask_again_quotes_the_answer_to_translate_once() -> None:
    language = ask_again("计算 1 到 100 的平方和", ENGLISH, already=False)
    assert language is CHINESE
    assert language.ask(ENGLISH + "\n") == (
        "请把你的回答翻译成中文，数字和名称保持原样，不要写代码：\n\n" + ENGLISH
    )
    assert ask_again("计算 1 到 100 的平方和", ENGLISH, already=True) is None
    assert (
        ask_again("计算 1 到 100 的平方和", "结果是 338350，就是前一百个平方数之和。", False)
        is None
    )
    assert ask_again("What is the sum of the squares from 1 to 100?", ENGLISH, False) is None
    # a program reads @field answers: their form matters, not their language
    assert ask_again("平均值是多少？用 @mean[value] 回答。", ENGLISH + " @mean[4]", False) is None


def test_an_english_answer_to_a_chinese_request_is_asked_for_in_chinese(
    settings: Settings, fake_pool: KernelPool
) -> None:
    code = "```python\nprint(sum(i**2 for i in range(1, 101)))\n```"
    chinese = "338350 是 1 到 100 的平方和。"
    model = ScriptedModel([code, ENGLISH, chinese])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        py = s.kernels.get("python")
        assert isinstance(py, FakeKernel)
        py.enqueue(Output("stdout", "338350\n"), KernelResult("ok"))
        events = list(s.run("计算 1 到 100 的平方和，并说明结果"))
        sent = model.calls[-1][-1]
    assert sent.role == "user" and sent.content == CHINESE.ask(ENGLISH)
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert "asking for the answer again, in Chinese" in notices
    done = events[-1]
    assert isinstance(done, TurnDone) and done.status == "done" and done.steps == 3
    assert [e for e in events if e.type == "grounding"][-1].supported == ("338350",)  # type: ignore[union-attr]


def test_an_answer_still_in_english_after_the_ask_is_kept(
    settings: Settings, fake_pool: KernelPool
) -> None:
    model = ScriptedModel([ENGLISH, ENGLISH])  # no code: the figure comes from the request
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        events = list(
            s.run("请解释：338350 is the sum of the squares from 1 to 100 吗？是的话说明")
        )
    done = events[-1]
    assert isinstance(done, TurnDone) and done.status == "done"
    assert len(model.calls) == 2  # asked once, not again


def test_a_language_the_request_names_is_the_one_asked_for() -> None:
    abstract = "We introduce GraphLattice attention, a sparse attention mechanism for long inputs."
    asked = (
        f"Summarise this abstract in two sentences, then translate it into Chinese.\n\n{abstract}"
    )
    assert asked_language(asked) is CHINESE
    assert asked_language("How do you say 'thank you' in Japanese? Answer in Japanese.") is JAPANESE
    assert asked_language("Write a short poem to Korean students") is None  # not a language asked
    assert asked_language("Is this file in Chinese?") is None  # about Chinese, in English
    assert asked_language("用 python 算一下 2 的 10 次方") is CHINESE  # written in it
    assert ask_again(asked, abstract, already=False) is CHINESE
    both = abstract + "\n\n我们提出了 GraphLattice 注意力，一种用于长输入的稀疏注意力机制。"
    assert ask_again(asked, both, already=False) is None


def test_requests_for_another_language_or_quoting_one_are_left_alone() -> None:
    for request in (
        "Translate into English: 我今天去商店给家人买了一些苹果和香蕉",
        "帮我把这段话翻译成英文：我今天去商店",
        "日本語を英語に翻訳してください：今日は",
        "한국어를 영어로 번역해 주세요: 오늘",
        "What's the population of 北京?",
        "Explain this error: ファイルが見つかりません",
        "Answer in English, not in Chinese",
        "The file is written in Chinese. Summarize it in English.",
        "Don't reply in Korean.",
        "Explain what xiexie means in Chinese.",
    ):
        assert asked_language(request) is None, request
    assert asked_language("translate it into Chinese for my boss") is CHINESE
    assert asked_language("Answer in Chinese if possible") is CHINESE
    assert asked_language("请总结下面的摘要：\n\nWe introduce GraphLattice attention.") is CHINESE


def test_no_ask_when_the_step_limit_is_next(settings: Settings, fake_pool: KernelPool) -> None:
    from dataclasses import replace

    model = ScriptedModel([ENGLISH])
    limited = replace(settings, max_steps=1)
    with Session(limited, model=model, kernels=fake_pool, approver=auto_approve) as s:
        events = list(
            s.run("请解释：338350 is the sum of the squares from 1 to 100 吗？是的话说明")
        )
    assert not any(isinstance(e, Notice) and "asking for the answer" in e.message for e in events)
    assert len(model.calls) == 1
