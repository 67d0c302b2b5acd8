"""A figure the request gives that no code used: the model is asked once to check."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loci.approval import auto_approve
from loci.coaching import unused_figures, unused_note
from loci.code_numbers import written
from loci.config import Settings
from loci.events import KernelResult, Notice, Output, TurnDone
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.models.scripted import ScriptedModel
from loci.session import Session

TOULA = (
    "Toula bought 3 dozen donuts which cost $5804528 per dozen and 2 dozen cupcakes which "
    "cost $80 per dozen. How much was the total cost?"
)


def D(*xs: str | int) -> set[Decimal]:
    return {Decimal(str(x)) for x in xs}


@pytest.mark.parametrize(
    ("request_text", "used", "unused"),
    [
        (TOULA, D(3, 80, 2), ["5804528"]),
        (TOULA, D(3, 5804528, 2, 80), []),
        # a percentage as a fraction, more or less of it
        ("A 20% tip on $50", D("0.2", 50), []),
        ("20% less than $50", D("0.8", 50), []),
        ("20% more than $50", D("1.2", 50), []),
        ("20% of $50", D(50), ["20"]),
        # a fraction as its value, its complement, or its two parts
        ("3/4 of 8636174 voted for the winner", D("0.25", 8636174), []),
        ("1/3 of 300 apples", D("0.3333", 300), []),
        ("3/4 of 8636174 voted", D(3, 4, 8636174), []),
        ("3/4 of 8636174 voted", D(8636174), ["3/4"]),
        # 0 and 1 go unwritten; numbers in URLs, paths and code spans are not figures
        ("1 pound of wax makes 10 candles; sell 1080379 candles", D(10, 1080379), []),
        ("Read http://127.0.0.1:8000/feed.xml and data/2024/x.csv", D(), []),
        ("What does `print(17 ** 20)` print for 5 runs?", D(5), []),
        ("Each of 1,234 boxes holds 6 eggs", D(1234, 6), []),
        # a date's hyphens are no minus signs
        ("How many days from 2026-01-01 to 2026-12-25?", D(2026, 1, 12, 25), []),
        ("Is -7 below the mean?", D(-7), []),
    ],
)  # fmt: skip
def test_the_figures_no_code_used(request_text: str, used: set[Decimal], unused: list[str]) -> None:
    assert unused_figures(request_text, used) == unused


def test_the_numbers_code_writes() -> None:
    code = "n = 5_804_528\nprint(f'{n * 3:.2f}', -4, 'rate 0.2')\n%timeit n"
    assert written("python", code) == D(5804528, 3, -4, "0.2")  # not the .2f of a format
    assert written("shell", "seq 1 12 | head -n 3") == D(1, 12, 3)
    assert written("python", "print(1 +)") == D(1)  # does not parse: read as text


def _session(settings: Settings, pool: KernelPool, replies: list[str]) -> Session:
    return Session(settings, model=ScriptedModel(replies), kernels=pool, approver=auto_approve)


def _printing(session: Session, *texts: str) -> None:
    fake = session.kernels.get("python")
    assert isinstance(fake, FakeKernel)
    for text in texts:
        fake.enqueue(Output("stdout", text), KernelResult("ok"))


def test_an_answer_from_code_that_dropped_a_figure_is_asked_about_once(
    settings: Settings, fake_pool: KernelPool
) -> None:
    replies = [
        "```python\nprint(3 * 12 + 2 * 80)\n```",
        "@answer[196]",
        "```python\nprint(3 * 5804528 + 2 * 80)\n```",
        "@answer[17413744]",
    ]
    with _session(settings, fake_pool, replies) as s:
        _printing(s, "196\n", "17413744\n")
        events = list(s.run(TOULA))
        sent = s.model.calls  # type: ignore[attr-defined]
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert "no code used 5804528 from the request; asking again" in notices
    assert sent[2][-1].content == unused_note(["5804528"])
    assert "5804528, which no code used" in sent[2][-1].content
    done = events[-1]
    assert isinstance(done, TurnDone) and done.status == "done"
    assert len(sent) == 4


def test_the_same_answer_given_again_ends_the_turn(
    settings: Settings, fake_pool: KernelPool
) -> None:
    replies = ["```python\nprint(3 * 12 + 2 * 80)\n```", "196", "196"]
    with _session(settings, fake_pool, replies) as s:
        _printing(s, "196\n")
        events = list(s.run(TOULA))
        calls = len(s.model.calls)  # type: ignore[attr-defined]
    done = events[-1]
    assert isinstance(done, TurnDone) and done.status == "done"
    assert calls == 3  # asked once, not again


def test_a_request_about_files_is_not_asked(settings: Settings, fake_pool: KernelPool) -> None:
    (settings.workdir / "sales.csv").write_text("region,total\nnorth,5\nsouth,7\n")
    replies = ["```python\nprint(5 + 7)\n```", "The total is 12."]
    with _session(settings, fake_pool, replies) as s:
        _printing(s, "12\n")
        events = list(s.run("Sum the totals in sales.csv rounded to 2 decimals"))
        calls = len(s.model.calls)  # type: ignore[attr-defined]
    assert not any(isinstance(e, Notice) and "no code used" in e.message for e in events)
    assert calls == 2
