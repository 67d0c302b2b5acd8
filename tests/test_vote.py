"""The effort setting (``loci.vote``): attempts made again, compared, one kept, none lost."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from loci.approval import Approver, Decision, auto_approve
from loci.config import Settings
from loci.events import (
    CodeBlock,
    Event,
    ExecutionDone,
    KernelResult,
    Notice,
    Output,
    TurnDone,
    Vote,
)
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.models.catalog import Sampling
from loci.models.local import LocalModel
from loci.models.scripted import ScriptedModel
from loci.session import Session
from loci.store import Store
from loci.turn import Turn
from loci.vote import Tally, claim

ASK = "What is six times seven?"


def code(expr: str) -> str:
    return f"```python\nprint({expr})\n```"


def attempt(expr: str, printed: str, answer: str) -> list[Any]:
    """One attempt's script: the model's code, what the kernel prints, the model's answer."""
    return [code(expr), (Output("stdout", printed + "\n"), KernelResult("ok")), answer]


def make(
    settings: Settings,
    pool: KernelPool,
    effort: int,
    *attempts: list[Any],
    approver: Approver = auto_approve,
) -> tuple[Session, ScriptedModel]:
    """A session with ``effort`` whose model and kernel play ``attempts``; the caller closes it."""
    replies = [step for a in attempts for step in a if isinstance(step, str)]
    model = ScriptedModel(replies)
    session = Session(
        dataclasses.replace(settings, effort=effort), model=model, kernels=pool, approver=approver
    )
    fake = session.kernels.get("python")
    assert isinstance(fake, FakeKernel)
    for a in attempts:
        for step in a:
            if isinstance(step, tuple):
                fake.enqueue(*step)
    return session, model


def run(
    settings: Settings, pool: KernelPool, effort: int, *attempts: list[Any], ask: str = ASK
) -> tuple[list[Event], Session, ScriptedModel]:
    """The request run with ``effort``; the caller closes the session."""
    session, model = make(settings, pool, effort, *attempts)
    return list(session.run(ask)), session, model


def vote_of(events: list[Event]) -> Vote:
    found = [e for e in events if isinstance(e, Vote)]
    assert len(found) == 1
    return found[0]


def test_the_answer_most_attempts_agree_on_is_kept_and_the_others_set_aside(
    settings: Settings, fake_pool: KernelPool
) -> None:
    events, s, model = run(
        settings,
        fake_pool,
        3,
        attempt("6 * 7 - 1", "41", "It is 41."),
        attempt("6 * 7", "42", "It is 42."),
        attempt("7 * 6", "42", "Six times seven is 42."),
    )
    with s:
        vote = vote_of(events)
        assert (vote.attempt, vote.agree, vote.attempts, vote.answer) == (2, 2, 3, "It is 42.")
        assert vote.summary == "2 of 3 attempts agree: kept the answer of attempt 2"
        assert vote.again  # another answer came after it: shown once more
        done = events[-1]
        assert isinstance(done, TurnDone) and done.status == "done"
        assert done.steps == 6  # every attempt's steps
        assert sum(isinstance(e, ExecutionDone) for e in events) == 3
        # each further attempt saw the request alone, not the attempts before it
        for call in model.calls[2:]:
            assert not any("41" in m.content for m in call)
        # the conversation goes on from the kept attempt: the next call sees it alone
        assert [m.content for m in s.messages if m.role == "assistant"][-1] == "It is 42."
        resumed = s.store.messages(s.conversation_id)
        assert [m.content for m in resumed if m.role == "assistant"] == [code("6 * 7"), "It is 42."]
        model.enqueue("Yes.")
        list(s.run("Sure?"))
        sent = model.calls[-1]
        assert not any("41" in m.content for m in sent)
        assert any(m.content == "It is 42." for m in sent)
        conv = s.conversation_id
    # nothing is lost: every attempt is in the history, those not kept marked so
    with Store(settings.db_path) as store:
        items = store.get_conversation(conv).to_dict()["items"]
    said = [
        (i["content"], i.get("set_aside", False)) for i in items if i.get("role") == "assistant"
    ]
    assert ("It is 41.", True) in said
    assert ("Six times seven is 42.", True) in said
    assert ("It is 42.", False) in said
    assert sum(i["kind"] == "execution" for i in items) == 3


def test_no_more_attempts_once_the_rest_cannot_change_the_result(
    settings: Settings, fake_pool: KernelPool
) -> None:
    events, s, model = run(
        settings,
        fake_pool,
        3,
        attempt("6 * 7", "42", "It is 42."),
        attempt("7 * 6", "42.0", "It is 42."),  # the same number, printed otherwise
    )
    with s:
        vote = vote_of(events)
        assert (vote.attempt, vote.agree, vote.attempts) == (1, 2, 2)
        assert not vote.again  # the kept answer is the one on screen
        assert len(model.calls) == 4
        said = [e.message for e in events if isinstance(e, Notice)]
        assert "effort 3: attempt 2 of 3, from the request alone" in said
        assert not any("attempt 3" in m for m in said)


def test_a_tie_keeps_the_first_attempt(settings: Settings, fake_pool: KernelPool) -> None:
    events, s, _ = run(
        settings,
        fake_pool,
        2,
        attempt("6 * 7", "42", "It is 42."),
        attempt("6 * 7 + 1", "43", "It is 43."),
    )
    with s:
        vote = vote_of(events)
        assert (vote.attempt, vote.agree, vote.attempts) == (1, 1, 2)
        assert [m.content for m in s.messages][-1] == "It is 42."


def test_an_answer_without_code_is_not_attempted_again(
    settings: Settings, fake_pool: KernelPool
) -> None:
    model = ScriptedModel(["Bonjour means hello."])
    with Session(dataclasses.replace(settings, effort=3), model=model, kernels=fake_pool) as s:
        events = list(s.run("Translate bonjour"))
    assert not any(isinstance(e, Vote) for e in events)
    assert len(model.calls) == 1


def test_attempts_whose_code_failed_do_not_vote(settings: Settings, fake_pool: KernelPool) -> None:
    failed = (Output("error", "NameError"), KernelResult("error", error_name="NameError"))
    events, s, _ = run(
        settings,
        fake_pool,
        2,
        [code("six * seven"), failed, "It is 42."],
        [code("six * 7"), failed, "It is probably 42."],
    )
    with s:
        vote = vote_of(events)
        assert (vote.attempt, vote.agree, vote.attempts) == (1, 0, 2)
        assert vote.summary.endswith("kept the first")


def test_the_fields_a_request_asks_for_are_what_attempts_compare(
    settings: Settings, fake_pool: KernelPool
) -> None:
    ask = "Mean and name of the top region? Answer as @mean[value] @top[name]"
    events, s, _ = run(
        settings,
        fake_pool,
        3,
        attempt("m", "3.14159 North", "@mean[3.14159] @top[north]"),
        attempt("n", "2.5 South", "@mean[2.5] @top[South]"),
        attempt("o", "3.141590 North", "@mean[3.141590] @top[North]"),
        ask=ask,
    )
    with s:
        vote = vote_of(events)
        assert (vote.attempt, vote.agree, vote.attempts) == (1, 2, 3)


def test_an_interrupted_attempt_ends_the_vote(settings: Settings, fake_pool: KernelPool) -> None:
    blocks: list[CodeBlock] = []

    def stop_the_second(block: CodeBlock) -> Decision:  # Ctrl-C as attempt 2's code starts
        blocks.append(block)
        if len(blocks) == 2:
            s.interrupt()
        return Decision(True, "user")

    s, _ = make(
        settings,
        fake_pool,
        3,
        attempt("6 * 7", "42", "It is 42."),
        [code("7 * 6"), (Output("stdout", "42\n"), KernelResult("ok"))],
        approver=stop_the_second,
    )
    events = list(s.run(ASK))
    with s:
        done = events[-1]
        assert isinstance(done, TurnDone) and done.status == "interrupted"
        vote = vote_of(events)
        assert (vote.attempt, vote.attempts) == (1, 2)
        assert [m.content for m in s.messages][-1] == "It is 42."


@pytest.mark.parametrize(
    ("answer", "backed", "expected"),
    [
        ("It is 42.", ("42",), ("42",)),
        ("It is 42.0.", ("42.0",), ("42",)),
        ("From 1,200 and 3.5 we get 4,200.", ("1,200", "4,200"), ("4200",)),
        ("The ratio is 0.3333333333.", ("0.3333333333",), ("0.333333",)),
        ("No number here.", (), None),
    ],
)
def test_an_attempt_claims_the_last_number_its_outputs_back(
    answer: str, backed: tuple[str, ...], expected: tuple[str, ...] | None
) -> None:
    from loci.events import Grounding

    turn = Turn(ASK, executions=1, answer=answer, grounding=Grounding(backed))
    turn.ok_calls.add("c1")
    assert claim(turn, "done") == expected
    assert claim(turn, "max_steps") is None


def test_the_tally_settles_when_the_rest_cannot_overtake() -> None:
    tally = Tally()
    tally.counts[("42",)] = 2
    assert tally.settled(1)
    assert not tally.settled(2)
    tally.counts[("41",)] = 1
    assert not tally.settled(1)
    assert Tally().settled(0) is False


def test_an_embedded_model_samples_its_further_attempts_with_a_seed() -> None:
    model = LocalModel.__new__(LocalModel)  # no weights needed to check the arguments
    model.sampling, model.max_tokens, model.seed = Sampling(), 1024, None
    twin = model.varied(3)
    assert twin._draw() == {
        "temperature": Sampling().vote_temperature,
        "repeat_penalty": 1.05,
        "max_tokens": 1024,
        "seed": 3,
    }
    assert model._draw()["temperature"] == 0.0 and "seed" not in model._draw()


def test_a_branch_keeps_the_attempts_set_aside_as_they_were(
    settings: Settings, fake_pool: KernelPool
) -> None:
    events, s, model = run(
        settings,
        fake_pool,
        2,
        attempt("6 * 7", "42", "It is 42."),
        attempt("6 * 7 + 1", "43", "It is 43."),
    )
    with s:
        assert vote_of(events).attempt == 1  # a tie: the first
        model.enqueue("Yes.")
        list(s.run("Sure?"))
        branch = s.branch(2)  # go on from before "Sure?"
        sent = [m.content for m in s.store.messages(branch)]
        shown = s.store.get_conversation(branch).to_dict()["items"]
    assert "It is 42." in sent and "It is 43." not in sent
    assert any(i.get("content") == "It is 43." and i.get("set_aside") for i in shown)
