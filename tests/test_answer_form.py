"""The answer's ``@field[value]`` form (loci.answer_form): found in the request, checked in
the final reply, and asked for once more when fields are missing."""

from __future__ import annotations

from dataclasses import replace

from loci.answer_form import ask_again, fields, missing
from loci.approval import auto_approve
from loci.config import Settings
from loci.events import KernelResult, Notice, Output, TurnDone
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.messages import ToolCall
from loci.models.scripted import ScriptedModel
from loci.session import Session

REQUEST = (
    "Which country has the highest score?\n\n"
    "Required answer format: @country_with_highest_score[country_name] @score[value]\n\n"
    "End your reply with each answer written exactly as @answer_name[value]."
)


def test_fields_are_read_from_the_request_without_the_generic_description() -> None:
    assert fields(REQUEST) == {"country_with_highest_score": "country_name", "score": "value"}
    assert fields("what is 2 + 2?") == {}


def test_an_at_sign_in_code_is_not_a_field() -> None:
    assert fields("why does x = A@B[:, 0] fail?") == {}
    assert fields("df.query('a > @limits[0]') fails") == {}
    assert fields("my decorator:\n```python\n@buttons[0].clicked.connect\ndef f(): ...\n```") == {}
    assert fields("what does `@cache[1]` mean?") == {}
    assert fields("answer as @name[value]") == {"name": "value"}  # a real field called name


def test_an_example_value_or_a_dict_counts_as_filled() -> None:
    assert missing("@n[42]", {"n": "42"}) == ()
    assert missing("@counts[{'a': 1}]", {"counts": "dict"}) == ()
    assert missing("@total[{total}]", {"total": "value"}) == ("total",)


def test_a_field_is_missing_when_absent_renamed_unfilled_or_a_template() -> None:
    wanted = fields(REQUEST)
    assert missing("@country_with_highest_score[Switzerland] @score[7.587]", wanted) == ()
    assert missing("@country_with_highest_score[Switzerland]@score[7.587]", wanted) == ()
    assert list(fields("as @a[value]@b[value]")) == ["a", "b"]
    assert missing("@Switzerland[Switzerland] @score[7.587]", wanted) == (
        "country_with_highest_score",
    )
    assert missing("@country_with_highest_score[country_name] @score[{best}]", wanted) == (
        "country_with_highest_score",
        "score",
    )


def test_ask_again_names_the_form_and_prefills_the_first_field() -> None:
    ask = ask_again(REQUEST, "@Switzerland[Switzerland] @score[7.5]", already=False)
    assert ask is not None and ask.missing == ("country_with_highest_score",)
    assert "@country_with_highest_score[country_name]\n@score[value]" in ask.note
    assert ask.prefill == "@country_with_highest_score["
    assert "Your answer gave @Switzerland[Switzerland] @score[7.5]: keep its values" in ask.note
    assert ask_again(REQUEST, "@Switzerland[x]", already=True) is None  # once a turn
    assert ask_again("what is 2 + 2?", "4", already=False) is None


def fake(s: Session, *outputs: str) -> FakeKernel:
    kernel = s.kernels.get("python")
    assert isinstance(kernel, FakeKernel)
    for text in outputs:
        kernel.enqueue(Output("stdout", text), KernelResult("ok"))
    return kernel


def test_a_renamed_field_is_asked_for_once_and_the_turn_ends(
    settings: Settings, fake_pool: KernelPool
) -> None:
    model = ScriptedModel(tools=True)
    model.enqueue("", [ToolCall("c1", "python", "print(best, top)")])
    model.enqueue("@Switzerland[Switzerland] @score[7.587]")
    model.enqueue("@country_with_highest_score[Switzerland]\n@score[7.587]")
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        fake(s, "Switzerland 7.587\n")
        evs = list(s.run(REQUEST))
    done = evs[-1]
    assert isinstance(done, TurnDone) and done.status == "done" and done.steps == 3
    told = model.calls[2][-1]
    assert told.by == "loci" and "leaves out: @country_with_highest_score" in told.content
    said = [e.message for e in evs if isinstance(e, Notice)]
    assert "the answer lacks @country_with_highest_score" in said


def test_asked_once_only(settings: Settings, fake_pool: KernelPool) -> None:
    model = ScriptedModel(tools=True)
    model.enqueue("", [ToolCall("c1", "python", "print(best, top)")])
    model.enqueue("@Switzerland[Switzerland] @score[7.587]")
    model.enqueue("Switzerland has the highest score, 7.587.")
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        fake(s, "Switzerland 7.587\n")
        evs = list(s.run(REQUEST))
    assert isinstance(evs[-1], TurnDone) and evs[-1].status == "done" and evs[-1].steps == 3


def test_at_the_step_limit_the_answer_is_asked_for_instead_of_stopping(
    settings: Settings, fake_pool: KernelPool
) -> None:
    model = ScriptedModel(tools=True)
    model.enqueue("", [ToolCall("c1", "python", "print(best, top)")])
    model.enqueue("", [ToolCall("c2", "python", "print('more')")])  # past the limit: not run
    model.enqueue("@country_with_highest_score[Switzerland]\n@score[7.587]")
    with Session(
        replace(settings, max_steps=1), model=model, kernels=fake_pool, approver=auto_approve
    ) as s:
        kernel = fake(s, "Switzerland 7.587\n")
        evs = list(s.run(REQUEST))
    assert kernel.executed == ["print(best, top)"]
    done = evs[-1]
    assert isinstance(done, TurnDone) and done.status == "done"
    sent = model.calls[2]
    assert sent[-2].role == "tool" and sent[-2].tool_call_id == "c2"  # the unrun call, settled
    assert "did not give: @country_with_highest_score, @score" in sent[-1].content


def test_a_nudge_for_code_at_the_last_step_still_gets_the_final_note(
    settings: Settings, fake_pool: KernelPool
) -> None:
    from loci.coaching import FINAL_NOTE

    model = ScriptedModel(tools=True)
    model.enqueue("It is 4.")  # no code yet: sent back for code, at the last step
    model.enqueue("It is 4.")
    with Session(
        replace(settings, max_steps=1), model=model, kernels=fake_pool, approver=auto_approve
    ) as s:
        list(s.run("what is 2 + 2?"))
    assert model.calls[1][-1].content == FINAL_NOTE  # told to answer now, not to write code


def test_a_request_without_fields_is_unchanged(settings: Settings, fake_pool: KernelPool) -> None:
    model = ScriptedModel(tools=True)
    model.enqueue("", [ToolCall("c1", "python", "print(2 + 2)")])
    model.enqueue("It is 4.")
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        fake(s, "4\n")
        evs = list(s.run("what is 2 + 2?"))
    assert isinstance(evs[-1], TurnDone) and evs[-1].steps == 2
