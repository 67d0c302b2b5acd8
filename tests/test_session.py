"""The loop, with the scripted model: fake kernels for the logic, real ones where it matters."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from loci.approval import Decision, auto_approve
from loci.coaching import CLOSING_NOTE, REPEAT_NOTE, SILENT_NOTE, VERIFY_NOTE
from loci.config import Settings
from loci.errors import ModelUnavailableError
from loci.events import (
    Approval,
    CodeBlock,
    Event,
    ExecutionDone,
    KernelResult,
    ModelDone,
    Notice,
    Output,
    TurnDone,
)
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.messages import ToolCall
from loci.models.base import TextChunk
from loci.models.scripted import ScriptedModel
from loci.prompts import RESUMED_NOTE
from loci.session import Session
from loci.store import Store
from loci.turn import code_key


def refuse(reason: str) -> Callable[[CodeBlock], Decision]:
    """An approver that says no to every block, giving ``reason``."""

    def no(block: CodeBlock) -> Decision:
        return Decision(False, "user", reason=reason)

    return no


def events_of(session: Session, text: str) -> list[Event]:
    return list(session.run(text))


def last(events: list[Event]) -> TurnDone:
    done = events[-1]
    assert isinstance(done, TurnDone)
    return done


def test_text_mode_runs_first_block_and_stops_the_model_early(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = ScriptedModel()
    # A small model often writes its own (made-up) output after the block: it must not run.
    model.enqueue("Sure.\n```python\nprint(6*7)\n```\nOutput: 41\n```python\nprint('no')\n```")
    model.enqueue("The answer is 42.")
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        fake = s.kernels.get("python")
        assert isinstance(fake, FakeKernel)
        fake.enqueue(Output("stdout", "42\n"), KernelResult("ok"))
        evs = events_of(s, "what is 6*7?")
    assert fakes["python"].executed == ["print(6*7)"]
    assert last(evs).status == "done" and last(evs).steps == 2
    # What went back to the model: the block as the reply, then the real output.
    second_call = model.calls[1]
    assert second_call[-2].content.endswith("```python\nprint(6*7)\n```")
    assert "Output: 41" not in second_call[-2].content
    assert second_call[-1].role == "tool" and second_call[-1].content == "42"


def test_native_tool_calls_and_order_of_events(settings: Settings, fake_pool: KernelPool) -> None:
    model = ScriptedModel(tools=True)
    model.enqueue("Computing.", [ToolCall("c1", "python", "2**100")])
    model.enqueue("It is 1267650600228229401496703205376.")
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        evs = events_of(s, "2**100?")
    types = [e.type for e in evs]
    assert types[0] == "turn_start" and types[-1] == "turn_done"
    i = types.index("code")
    assert types[i : i + 3] == ["code", "approval", "execution_start"]
    assert "execution_done" in types
    assert model.calls[1][-1].tool_call_id == "c1"


def test_refusal_is_told_to_the_model(settings: Settings, fake_pool: KernelPool) -> None:
    model = ScriptedModel()
    model.enqueue("```shell\nrm -rf build\n```")
    model.enqueue("OK, I will not delete it.")

    no = refuse("keep my build dir")
    with Session(settings, model=model, kernels=fake_pool, approver=no) as s:
        evs = events_of(s, "clean up")
    approvals = [e for e in evs if isinstance(e, Approval)]
    assert approvals and not approvals[0].approved
    assert not any(isinstance(e, ExecutionDone) for e in evs)
    assert "keep my build dir" in model.calls[1][-1].content


def test_a_refusal_on_a_gateway_is_audited_as_the_gateway(settings: Settings) -> None:
    from loci.kernels.pool import Gateway

    pool = KernelPool(
        settings.workdir,
        factory=lambda lang: FakeKernel(lang, workdir=settings.workdir),
        gateway=Gateway("http://gw.example:8888/"),
    )
    model = ScriptedModel()
    model.enqueue("```python\nprint(1)\n```")
    model.enqueue("Fine.")

    with Session(settings, model=model, kernels=pool, approver=refuse("not now")) as s:
        events_of(s, "go")
        record = s.store.get_conversation(s.conversation_id)
    assert [(e.status, e.sandbox) for e in record.executions] == [
        ("denied", "gateway:http://gw.example:8888")
    ]


def test_a_tool_calling_model_can_use_a_gateway_language(settings: Settings) -> None:
    from loci.kernels.pool import Gateway

    made: dict[str, FakeKernel] = {}

    def factory(language: str) -> FakeKernel:
        made[language] = FakeKernel(language, workdir=settings.workdir)
        return made[language]

    pool = KernelPool(settings.workdir, factory=factory, gateway=Gateway("http://gw:8888"))
    pool._specs = {"python": "python3", "scheme": "calysto_scheme"}  # as the gateway lists
    model = ScriptedModel(tools=True)
    model.enqueue("", [ToolCall("c1", "scheme", "(display (* 6 7))")])
    model.enqueue("42.")
    with Session(settings, model=model, kernels=pool, approver=auto_approve) as s:
        events_of(s, "use scheme")
    assert made["scheme"].executed == ["(display (* 6 7))"]
    assert "language: scheme" in model.calls[0][0].content  # the model is told it exists
    # and the tool's schema lets it say so (an enum of python/shell would forbid it)
    from loci.messages import TOOL_SCHEMA

    assert "enum" not in TOOL_SCHEMA["properties"]["language"]


def test_edited_code_is_what_runs(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = ScriptedModel(["```python\nprint(1)\n```", "done"])

    def edit(block: CodeBlock) -> Decision:
        return Decision(True, "user", code="print(2)")

    with Session(settings, model=model, kernels=fake_pool, approver=edit) as s:
        evs = events_of(s, "go")
    assert fakes["python"].executed == ["print(2)"]
    approval = next(e for e in evs if isinstance(e, Approval))
    assert approval.code == "print(2)"
    record = s.store.get_conversation(s.conversation_id) if False else None
    assert record is None


def test_always_turns_on_auto_run(settings: Settings, fake_pool: KernelPool) -> None:
    asked: list[str] = []

    def always(block: CodeBlock) -> Decision:
        asked.append(block.code)
        return Decision(True, "user", always=True)

    model = ScriptedModel(["```python\nprint(1)\n```", "```python\nprint(2)\n```", "done"])
    with Session(settings, model=model, kernels=fake_pool, approver=always) as s:
        events_of(s, "go")
        assert s.auto_run
    assert asked == ["print(1)"]


def test_no_approver_means_nothing_runs(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = ScriptedModel(["```python\nprint(1)\n```", "done"])
    with Session(settings, model=model, kernels=fake_pool) as s:
        evs = events_of(s, "go")
    assert "python" not in fakes or fakes["python"].executed == []
    approval = next(e for e in evs if isinstance(e, Approval))
    assert not approval.approved and approval.by == "policy"


def test_step_cap_and_repeated_block(settings: Settings, fake_pool: KernelPool) -> None:
    model = ScriptedModel([f"```python\nprint({i})\n```" for i in range(10)])
    s2 = settings.replace(max_steps=2)
    with Session(s2, model=model, kernels=fake_pool, approver=auto_approve) as s:
        evs = events_of(s, "loop")
    assert last(evs).status == "max_steps"
    assert sum(isinstance(e, ExecutionDone) for e in evs) == 2
    model = ScriptedModel(["```python\nprint(1)\n```"] * 5)
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        evs = events_of(s, "loop")
    assert last(evs).status == "repeated"
    assert sum(isinstance(e, ExecutionDone) for e in evs) == 1


def test_code_sent_again_with_its_comments_reworded_is_a_repeat(
    settings: Settings, fake_pool: KernelPool
) -> None:
    blocks = [
        "```python\n# the derivative at a point\nx0 = 1\nprint(x0 * 2)\n```",
        "```python\n# Evaluate it numerically at x = 1\n\nx0 = 1  # the point\nprint(x0*2)\n```",
    ]
    model = ScriptedModel([*blocks, "It is 2."])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        fake = s.kernels.get("python")
        assert isinstance(fake, FakeKernel)
        fake.enqueue(Output("stdout", "2\n"), KernelResult("ok"))
        evs = events_of(s, "twice one?")
    assert sum(isinstance(e, ExecutionDone) for e in evs) == 1
    assert model.calls[2][-1].content == REPEAT_NOTE
    assert any(isinstance(e, Notice) and e.message.startswith("not run: the same") for e in evs)
    assert last(evs).status == "done"


@pytest.mark.parametrize(
    "code", ["-" * 1_000_000 + "1", "x = " + " + ".join(["1"] * 200_000), "(" * 100_000]
)
def test_code_too_deep_to_parse_still_gets_a_key(code: str) -> None:
    assert code_key("python", code) == code_key("python", code + "\n# again")


@pytest.mark.parametrize(
    ("language", "first", "second", "same"),
    [
        ("python", "x = 1\nprint(x)", "# one\nx = 1   # set\n\nprint( x )", True),
        ("python", "print(1)", "print(2)", False),
        ("python", "%pip install rich\n# again", "%pip install rich", True),  # not Python syntax
        ("shell", "# list\nls -l\n", "ls -l", True),
        ("shell", "ls -l", "ls -la", False),
    ],
)
def test_the_code_key_leaves_out_comments_and_layout(
    language: str, first: str, second: str, same: bool
) -> None:
    assert (code_key(language, first) == code_key(language, second)) is same


WARNING = Output("stderr", "FutureWarning: 3 columns will change\n")
NAME_ERROR = Output("error", "NameError: name 'x' is not defined")


@pytest.mark.parametrize(
    ("outputs", "status", "calls"),
    [
        # it printed: one last call, for the answer from that, without code
        ((Output("stdout", "42\n"), KernelResult("ok")), "done", 4),
        # nothing to answer from (a warning is not a result): an answer would be a guess
        ((WARNING, NAME_ERROR, KernelResult("error", error_name="NameError")), "repeated", 3),
    ],
)
def test_a_model_that_sends_code_a_third_time_is_asked_for_its_answer_if_it_printed(
    settings: Settings, fake_pool: KernelPool, outputs: tuple[Any, ...], status: str, calls: int
) -> None:
    code = "```python\nprint(6 * 7)\n```"
    model = ScriptedModel([code, code, code, "It is 42."])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        fake = s.kernels.get("python")
        assert isinstance(fake, FakeKernel)
        fake.enqueue(*outputs)
        evs = events_of(s, "six times seven?")
    assert (last(evs).status, len(model.calls)) == (status, calls)
    assert sum(isinstance(e, ExecutionDone) for e in evs) == 1
    if status == "done":
        assert model.calls[3][-1].content == CLOSING_NOTE
        assert any(isinstance(e, Notice) and "asking for its answer" in e.message for e in evs)


def test_model_error_keeps_what_arrived(settings: Settings, fake_pool: KernelPool) -> None:
    model = ScriptedModel()
    model.enqueue("The answer is", error=ModelUnavailableError("connection dropped mid-reply"))
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        evs = events_of(s, "q")
        assert last(evs).status == "error"
        assert any(isinstance(e, Notice) and "dropped" in e.message for e in evs)
        assert s.store.messages(s.conversation_id)[-1].content == "The answer is"
        # The conversation goes on.
        model.enqueue("42.")
        assert last(events_of(s, "again")).status == "done"


def test_interrupt_while_model_streams(settings: Settings, fake_pool: KernelPool) -> None:
    model = ScriptedModel(["word " * 200])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        evs: list[Event] = []
        for ev in s.run("talk"):
            evs.append(ev)
            if len(evs) == 5:
                s.interrupt()
        done = next(e for e in evs if isinstance(e, ModelDone))
        assert done.stopped and 0 < len(done.text) < len("word " * 200)
        assert last(evs).status == "interrupted"
        assert s.store.messages(s.conversation_id)[-1].content == done.text


def test_everything_is_stored_and_resume_tells_the_model(
    settings: Settings, fake_pool: KernelPool
) -> None:
    model = ScriptedModel(["```python\nprint('hi')\n```", "It printed hi."])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        s.kernels.get("python")
        fake = s.kernels.get("python")
        assert isinstance(fake, FakeKernel)
        fake.enqueue(Output("stdout", "hi\n"), KernelResult("ok"))
        events_of(s, "say hi")
        conv = s.conversation_id
    with Store(settings.db_path) as store:
        record = store.get_conversation(conv)
        assert record.to_dict()["id"] == conv
    model2 = ScriptedModel(["Welcome back."])
    with Session(settings, model=model2, kernels=fake_pool, conversation_id=conv) as s:
        events_of(s, "where were we?")
    sent = model2.calls[0]
    assert any(RESUMED_NOTE in m.content for m in sent)
    assert any("say hi" in m.content for m in sent)


def test_undo_forgets_last_request(settings: Settings, fake_pool: KernelPool) -> None:
    model = ScriptedModel(["one", "two"])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        events_of(s, "first")
        events_of(s, "second")
        assert s.undo() > 0
        assert [m.content for m in s.messages] == ["first", "one"]


def test_undo_knows_a_request_by_who_wrote_it_not_by_its_words(
    settings: Settings, fake_pool: KernelPool
) -> None:
    # A person may type what reads like one of loci's notes; it is still their request.
    model = ScriptedModel(["one", "two"])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        events_of(s, "first")
        events_of(s, VERIFY_NOTE)
        assert s.undo() == 2
        assert [m.content for m in s.messages] == ["first", "one"]
        assert [m.by for m in s.messages] == ["person", "model"]


# -- real kernels -----------------------------------------------------------------------------


@pytest.fixture
def real(settings: Settings) -> Iterator[tuple[Session, ScriptedModel]]:
    model = ScriptedModel()
    with Session(settings, model=model, approver=auto_approve) as s:
        yield s, model


def test_real_python_state_persists_and_plots_are_saved(
    real: tuple[Session, ScriptedModel],
) -> None:
    s, model = real
    model.enqueue("```python\nx = 2**100\n```")
    model.enqueue("```python\nx\n```")
    model.enqueue(
        "```python\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\n```"
    )
    model.enqueue("Done: 1267650600228229401496703205376 and a plot.")
    evs = events_of(s, "compute and plot")
    results = [e for e in evs if isinstance(e, Output) and e.stream == "result"]
    assert results and "1267650600228229401496703205376" in results[0].data
    images = [e for e in evs if isinstance(e, Output) and e.mime == "image/png"]
    assert images and Path(images[0].path).is_file()
    assert images[0].path.startswith(str(s.settings.workdir))
    done = [e for e in evs if isinstance(e, ExecutionDone)]
    assert images[0].path in done[-1].files
    record = s.store.get_conversation(s.conversation_id).to_dict()
    assert "1267650600228229401496703205376" in str(record)


def test_real_shell_and_timeout(real: tuple[Session, ScriptedModel]) -> None:
    s, model = real
    s.settings = s.settings.replace(timeout=1.5)
    model.enqueue("```shell\ncd /tmp && export LOCI_X=7 && sleep 30\n```")
    model.enqueue("```shell\necho $LOCI_X; pwd\n```")
    model.enqueue("It timed out.")
    evs = events_of(s, "go")
    done = [e for e in evs if isinstance(e, ExecutionDone)]
    assert done[0].status in ("timeout", "interrupted")
    assert done[1].status == "ok"


def test_real_interrupt_from_another_thread(real: tuple[Session, ScriptedModel]) -> None:
    s, model = real
    model.enqueue("```python\nimport time\nwhile True: time.sleep(0.1)\n```")
    timer = threading.Timer(2.0, s.interrupt)
    timer.start()
    evs = events_of(s, "spin")
    timer.join()
    done = [e for e in evs if isinstance(e, ExecutionDone)]
    assert done and done[0].status == "interrupted"
    assert last(evs).status == "interrupted"
    model.enqueue(
        "```python\nprint('alive')\n```",
    )
    model.enqueue("alive")
    evs = events_of(s, "still there?")
    assert any(isinstance(e, Output) and e.data == "alive\n" for e in evs)


def test_missing_module_proposes_pip_install(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = ScriptedModel(["```python\nimport nosuchpkg_loci\n```", "done"])
    asked: list[CodeBlock] = []

    def approve(block: CodeBlock) -> Decision:
        asked.append(block)
        return Decision(True, "user")

    with Session(settings, model=model, kernels=fake_pool, approver=approve) as s:
        py = s.kernels.get("python")
        sh = s.kernels.get("shell")
        assert isinstance(py, FakeKernel) and isinstance(sh, FakeKernel)
        py.enqueue(
            KernelResult(
                "error",
                error_name="ModuleNotFoundError",
                error_value="No module named 'nosuchpkg_loci'",
            )
        )
        py.enqueue(Output("stdout", "ok\n"), KernelResult("ok"))
        events_of(s, "use it")
    assert len(asked) == 2 and "pip install nosuchpkg_loci" in asked[1].code
    assert sh.executed == [asked[1].code]
    assert py.executed == ["import nosuchpkg_loci", "import nosuchpkg_loci"]


def test_a_model_stuck_in_a_loop_is_stopped(settings: Settings, fake_pool: KernelPool) -> None:
    model = ScriptedModel(["Answer: " + "@x[1], " * 2000])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        evs = events_of(s, "q")
    assert any(isinstance(e, Notice) and "repeating" in e.message for e in evs)
    done = next(e for e in evs if isinstance(e, ModelDone))
    assert len(done.text) < 1000


def test_answer_from_memory_is_sent_back_for_code_once(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = ScriptedModel(["It is 1,000,000.", "```python\nprint(2**20)\n```", "It is 1048576."])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        py = s.kernels.get("python")
        assert isinstance(py, FakeKernel)
        py.enqueue(Output("stdout", "1048576\n"), KernelResult("ok"))
        evs = events_of(s, "What is 2**20?")
        grounding = [e for e in evs if e.type == "grounding"]
        assert grounding and grounding[-1].supported == ("1048576",)  # type: ignore[union-attr]
        assert any(isinstance(e, Notice) and "no output" in e.message for e in evs)
        # %undo removes the whole request, including the note loci added to it.
        s.undo()
        assert s.messages == []


def test_small_answer_to_a_question_with_figures_is_sent_back_for_code(
    settings: Settings, fake_pool: KernelPool
) -> None:
    # "4" is 0-10, so grounding ignores it, but the question has figures: a guess from memory.
    model = ScriptedModel(["The answer is 4.", "```python\nprint(12 // 3)\n```", "It is 4."])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        py = s.kernels.get("python")
        assert isinstance(py, FakeKernel)
        py.enqueue(Output("stdout", "4\n"), KernelResult("ok"))
        evs = events_of(s, "Split 12 apples among 3 people. How many each?")
        assert [e for e in evs if e.type == "execution_done"]
        assert s.messages[2].content == VERIFY_NOTE


def test_chat_without_figures_is_not_sent_back(settings: Settings, fake_pool: KernelPool) -> None:
    model = ScriptedModel(["Python 3 has lists and dicts."])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        evs = events_of(s, "What containers does Python have?")
        assert not [e for e in evs if isinstance(e, Notice)]
        assert len(s.messages) == 2


def test_code_that_printed_nothing_is_sent_back_to_print(
    settings: Settings, fake_pool: KernelPool
) -> None:
    model = ScriptedModel(
        [
            "```python\nanswer = 6 * 7\n```",
            "The answer is 0.",
            "```python\nprint(6 * 7)\n```",
            "It is 42.",
        ]
    )
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        py = s.kernels.get("python")
        assert isinstance(py, FakeKernel)
        py.enqueue(KernelResult("ok"))
        py.enqueue(Output("stdout", "42\n"), KernelResult("ok"))
        evs = events_of(s, "What is 6 times 7?")
        assert any(m.content == SILENT_NOTE for m in s.messages)
        grounding = [e for e in evs if e.type == "grounding"]
        assert grounding[-1].supported == ("42",)  # type: ignore[union-attr]


def test_mentioned_files_are_previewed_for_the_model(
    settings: Settings, fake_pool: KernelPool
) -> None:
    (settings.workdir / "sales.csv").write_text("month,total\njan,10\nfeb,12\n")
    model = ScriptedModel(["Fine."])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        events_of(s, "sum the totals in sales.csv")
    sent = model.calls[0][-1].content
    assert sent.startswith("sum the totals in sales.csv")
    assert "month (text), total (int)" in sent
    # An answer about a file that no code has read is sent back once.
    assert len(model.calls) == 2 and "No code has run yet" in model.calls[1][-1].content


def test_untagged_fence_runs_only_if_it_is_python(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = ScriptedModel(["```\nprint(1)\n```", "```\nThe total is 200.\n```"])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        evs = events_of(s, "go")
    assert fakes["python"].executed == ["print(1)"]
    assert last(evs).status == "done"


class _PrefillScripted(ScriptedModel):
    """A scripted model that honours prefill, as the embedded model does."""

    supports_prefill = True
    prefills: list[str]

    def stream(  # type: ignore[override]
        self, messages: Any, *, cancel: Any = None, prefill: str = ""
    ) -> Iterator[Any]:
        self.prefills = [*getattr(self, "prefills", []), prefill]
        if prefill:
            yield TextChunk(prefill)
        yield from super().stream(messages, cancel=cancel)


def test_after_the_nudge_a_prefill_model_starts_its_reply_with_code(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = _PrefillScripted(["@answer[1234]", "print(617 * 2)\n```", "@answer[1234]"])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        py = s.kernels.get("python")
        assert isinstance(py, FakeKernel)
        py.enqueue(Output("stdout", "1234\n"), KernelResult("ok"))
        evs = events_of(s, "twice 617?")
    assert model.prefills == ["", "```python\n", ""]
    assert fakes["python"].executed == ["print(617 * 2)"]
    assert last(evs).status == "done"


def test_an_answer_after_failed_code_is_sent_back_to_fix_it(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = ScriptedModel(
        ["```python\nprint(df.x.mean())\n```", "The mean is 4.25.",
         "```python\ndf = pd.read_csv('x.csv')\nprint(df.x.mean())\n```",
         "The mean is 4.25."]
    )  # fmt: skip
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        py = s.kernels.get("python")
        assert isinstance(py, FakeKernel)
        py.enqueue(KernelResult("error", error_name="NameError", error_value="df"))
        py.enqueue(Output("stdout", "4.25\n"), KernelResult("ok"))
        evs = events_of(s, "mean of x?")
    assert "The last code failed" in model.calls[2][-1].content
    assert [e for e in evs if e.type == "grounding"][-1].supported == ("4.25",)  # type: ignore[union-attr]


class _ClosingModel(ScriptedModel):
    closed = 0

    def close(self) -> None:
        self.closed += 1


def test_the_session_owns_its_model_and_closes_the_ones_it_drops(
    settings: Settings, fake_pool: KernelPool
) -> None:
    first, second = _ClosingModel(), _ClosingModel()
    first.enqueue("Hi.")
    with Session(settings, model=first, kernels=fake_pool, approver=auto_approve) as s:
        events_of(s, "hello")
        s.switch_model(second)
        assert (first.closed, second.closed) == (1, 0)  # its connections go with it
        s.switch_model(second)  # the same model again is kept open
        assert second.closed == 0
    assert (first.closed, second.closed) == (1, 1)


def test_an_unbacked_figure_is_kept_with_the_answer(
    settings: Settings, fake_pool: KernelPool
) -> None:
    from loci.export import export_ipynb, export_markdown
    from loci.store.records import MessageRecord

    replies = ["```python\nprint(3 + 5 + 7)\n```", "The sum is 15 and the mean is 5.5."]
    model = ScriptedModel(replies)
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        py = s.kernels.get("python")
        assert isinstance(py, FakeKernel)
        py.enqueue(Output("stdout", "15\n"), KernelResult("ok"))
        events_of(s, "Sum and mean of 3 5 7?")
        conv = s.conversation_id
    with Store(settings.db_path) as store:  # what a reload, `loci show` and exports read
        record = store.get_conversation(conv)
    answers = [i for i in record.items if isinstance(i, MessageRecord) and i.role == "assistant"]
    assert answers[-1].grounding is not None
    assert answers[-1].grounding.supported == ("15",)
    assert answers[-1].grounding.unsupported == ("5.5",)
    assert answers[0].grounding is None  # only the final answer is checked
    assert answers[-1].to_dict()["grounding"] == {"supported": ["15"], "unsupported": ["5.5"]}
    warning = "⚠ not found in any output of this turn: 5.5"
    assert f"> {warning}" in export_markdown(record)
    assert warning in export_ipynb(record)


def test_a_fixed_failure_is_not_sent_again_but_stays_in_the_store(
    settings: Settings, fake_pool: KernelPool
) -> None:
    model = ScriptedModel()
    model.enqueue("```python\nprint(mean(x))\n```")
    model.enqueue("```python\nimport statistics\nprint(statistics.mean([1, 4]))\n```")
    model.enqueue("The mean is 2.5.")
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        py = s.kernels.get("python")
        assert isinstance(py, FakeKernel)
        py.enqueue(KernelResult("error", error_name="NameError", error_value="mean"))
        py.enqueue(Output("stdout", "2.5\n"), KernelResult("ok"))
        evs = events_of(s, "what is the mean of 1 and 4?")
        conv = s.conversation_id
    assert last(evs).status == "done"
    second, third = model.calls[1], model.calls[2]
    assert any("NameError" in m.content for m in second)  # to fix it, the model reads it
    assert not any("print(mean(x))" in m.content or "NameError" in m.content for m in third)
    with Store(settings.db_path) as store:
        kept = [m.content for m in store.messages(conv)]
    assert any("print(mean(x))" in c for c in kept) and any("NameError" in c for c in kept)
