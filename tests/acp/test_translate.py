"""The pure parts of ``loci acp``: prompts in, events and records out, errors, approvals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("acp", reason="loci acp needs the acp extra")

from acp import RequestError, text_block
from acp.schema import EmbeddedResourceContentBlock, ResourceContentBlock, TextResourceContents
from acp_editor import SRC

import loci.errors
from loci.acp.errors import CODES, INTERNAL_ERROR, to_request_error
from loci.acp.translate import TurnUpdates, fenced, prompt_text, replay
from loci.acp.turn import AcpApprover, decision
from loci.approval import Decision, code_hash
from loci.events import (
    Approval,
    CodeBlock,
    ExecutionDone,
    ExecutionStart,
    ModelDone,
    Notice,
    Output,
    TextDelta,
    TurnDone,
    Usage,
    Vote,
)
from loci.messages import Message
from loci.prompts import with_preview
from loci.store import Store


def block(code: str, block_id: str = "call_1") -> CodeBlock:
    return CodeBlock(block_id, "python", code, code_hash(code))


def test_a_prompt_becomes_text_with_linked_files_by_their_path(tmp_path: Path) -> None:
    linked = ResourceContentBlock(
        type="resource_link", uri=f"file://{tmp_path}/data%20set.csv", name="data set.csv"
    )
    embedded = EmbeddedResourceContentBlock(
        type="resource",
        resource=TextResourceContents(uri=f"file://{tmp_path}/notes.md", text="a\n```\nb"),
    )
    text = prompt_text([text_block("sum the column in"), linked, embedded], tmp_path)
    assert text.splitlines()[:3] == ["sum the column in", "data set.csv", "notes.md:"]
    assert "````\na\n```\nb\n````" in text  # a fence longer than the one inside
    assert prompt_text([linked], tmp_path / "elsewhere") == f"{tmp_path}/data set.csv"


def test_an_attached_image_is_saved_in_the_workspace_and_named(tmp_path: Path) -> None:
    import base64

    from acp import image_block

    raw = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    data = base64.b64encode(raw).decode()
    text = prompt_text([text_block("what is in it?"), image_block(data, "image/png")], tmp_path)
    name = text.splitlines()[1].removeprefix("(attached image: ").removesuffix(")")
    assert name.startswith("loci_uploads/image-") and name.endswith(".png")
    assert (tmp_path / name).read_bytes() == raw
    again = prompt_text([image_block(data, "image/png")], tmp_path)
    assert again == f"(attached image: {name})"  # the same picture, one file
    assert list((tmp_path / "loci_uploads").iterdir()) == [tmp_path / name]
    assert "left out: not a PNG" in prompt_text([image_block(data, "image/tiff")], tmp_path)
    assert "left out: empty, broken" in prompt_text([image_block("%%%", "image/png")], tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "loci_uploads").symlink_to(elsewhere)  # planted by code
    got = prompt_text([image_block(data, "image/png")], tmp_path / "other")
    assert "could not be saved" in got and not list(elsewhere.iterdir())


def test_fenced_picks_a_fence_longer_than_any_inside() -> None:
    assert fenced("x = 1", "python") == "```python\nx = 1\n```"
    assert fenced("````").startswith("`````\n")


def run_events(updates: TurnUpdates, events: list[object]) -> list[dict[str, object]]:
    shown = []
    for event in events:
        shown += [u.model_dump() for u in updates.of(event)]  # type: ignore[arg-type]
    return shown


def test_a_turn_becomes_chunks_and_one_tool_call_per_block() -> None:
    updates = TurnUpdates()
    b = block("print(1)\nprint('x' * 3)")
    shown = run_events(
        updates,
        [
            TextDelta("Let me "), TextDelta("see."), ModelDone("Let me see.", Usage()),
            b, Approval(b.id, True, "user", b.code), ExecutionStart(7, b.id, "python", b.code),
            Output("stdout", "1\n", execution_id=7),
            Output("display", "iVBORw0KGgo=", mime="image/png", execution_id=7),
            Output("stdout", "xxx\n", execution_id=7),
            ExecutionDone(7, "ok", 0.1, files=("plot.png",)),
            TextDelta("Done."), TurnDone("done"),
        ],
    )  # fmt: skip
    kinds = [u["session_update"] for u in shown]
    assert kinds == ["agent_message_chunk"] * 2 + ["tool_call"] + ["tool_call_update"] * 5 + [
        "agent_message_chunk"
    ]
    assert shown[-1]["content"]["text"] == "\n\nDone."  # a new step, a new paragraph
    start, last = shown[2], shown[-2]
    assert start["title"] == "python: print(1)" and start["status"] == "pending"
    assert start["raw_input"] == {"language": "python", "code": b.code}
    assert last["status"] == "completed"
    content = [c["content"] for c in last["content"]]
    assert [c["type"] for c in content] == ["text", "text", "image", "text", "text"]
    assert content[1]["text"] == "```\n1\n```" and content[3]["text"] == "```\nxxx\n```"
    assert content[4]["text"] == "files: plot.png"
    assert last["raw_output"] == "1\n[image]\nxxx\nfiles: plot.png"  # for Jupyter AI's chat


@pytest.mark.parametrize("again", [True, False])
def test_a_vote_is_quoted_with_the_kept_answer_when_another_came_after_it(again: bool) -> None:
    updates = TurnUpdates()
    shown = run_events(updates, [Vote("It is 42.", 2, 2, 3, again), TurnDone("done")])
    texts = [u["content"]["text"] for u in shown]
    assert texts[0] == "\n\n> loci: 2 of 3 attempts agree: kept the answer of attempt 2\n\n"
    assert texts[1:] == (["\n\nIt is 42."] if again else [])


TRACEBACK = "Traceback …\nZeroDivisionError: division by zero"


def test_a_refused_block_fails_with_the_reason_and_errors_fail_the_call() -> None:
    updates = TurnUpdates()
    no, bad = block("rm -rf /", "a"), block("1/0", "b")
    shown = run_events(
        updates,
        [
            no, Approval(no.id, False, "user", no.code, "the user said no"),
            bad, Approval(bad.id, True, "auto", bad.code),
            ExecutionStart(1, bad.id, "python", bad.code),
            Output("error", TRACEBACK, text="ZeroDivisionError", execution_id=1),
            ExecutionDone(1, "error", 0.1, error_name="ZeroDivisionError"),
            Notice("warning", "careful"),
        ],
    )  # fmt: skip
    refused = shown[1]
    assert refused["status"] == "failed"
    assert refused["content"][-1]["content"]["text"] == "not run: the user said no"
    assert refused["raw_output"] == "not run: the user said no"
    failed = shown[-2]
    assert failed["status"] == "failed"
    assert "Traceback …" in failed["content"][1]["content"]["text"]  # the whole traceback
    assert shown[-1]["content"]["text"] == "\n\n> loci: ⚠ careful\n\n"


def test_a_block_left_unrun_when_the_turn_ends_is_settled_as_failed() -> None:
    updates = TurnUpdates()
    b = block("print(1)")
    run_events(updates, [b, Approval(b.id, True, "user", b.code)])
    (settled,) = run_events(updates, [TurnDone("interrupted")])
    assert settled["status"] == "failed"


def test_a_stored_conversation_replays_requests_replies_and_executions(tmp_path: Path) -> None:
    with Store(tmp_path / "history.db") as store:
        conv = store.create_conversation(model="scripted", workdir=str(tmp_path))
        store.add_message(conv, Message("user", with_preview("look at a.csv", "a.csv: 2 rows")))
        store.add_message(conv, Message("user", "(a note)", origin="loci"))
        store.add_message(conv, Message("assistant", "Looking."))
        ran = store.start_execution(
            conv, block_id="c1", language="python", code="print(2)", approved_by="user"
        )
        store.add_output(ran, Output("stdout", "2\n"))
        store.finish_execution(ran, ExecutionDone(ran, "ok", 0.2))
        store.record_refusal(
            conv, block_id="c2", language="shell", code="rm x", approved_by="user", reason="no"
        )
        store.add_message(conv, Message("tool", "2", tool_call_id="c1"))
        store.add_message(conv, Message("assistant", "It has 2 rows."))
        record = store.get_conversation(conv)
    shown = [u.model_dump() for u in replay(record)]
    kinds = [u["session_update"] for u in shown]
    assert kinds == [
        "user_message_chunk", "agent_message_chunk", "tool_call", "tool_call", "agent_message_chunk"
    ]  # fmt: skip
    assert shown[0]["content"]["text"] == "look at a.csv"  # without loci's preview
    assert shown[2]["status"] == "completed" and "2" in shown[2]["content"][1]["content"]["text"]
    assert shown[3]["status"] == "failed"
    assert shown[3]["content"][-1]["content"]["text"] == "not run: no"


def test_every_loci_error_is_an_acp_error_with_its_message() -> None:
    classes = [
        c for c in vars(loci.errors).values()
        if isinstance(c, type) and issubclass(c, loci.errors.LociError)
    ]  # fmt: skip
    assert len(classes) > 10
    for cls in classes:
        exc = cls.__new__(cls)
        loci.errors.LociError.__init__(exc, f"{cls.__name__} happened")
        error = to_request_error(exc)
        assert isinstance(error, RequestError)
        assert str(error) == f"{cls.__name__} happened"
        assert error.data == {"error": cls.__name__}
        nearest = next((c for c in cls.__mro__ if c in CODES), None)
        assert error.code == (CODES[nearest] if nearest else INTERNAL_ERROR)
    assert to_request_error(loci.errors.NotFoundError("gone")).code == -32002
    assert to_request_error(loci.errors.ModelAuthError("key")).code == INTERNAL_ERROR


def test_permission_answers_become_decisions() -> None:
    b = block("print(1)")
    assert decision("allow", b) == Decision(True, "user", b.code)
    assert decision("always", b).always
    assert not decision("reject", b).approved
    assert decision(None, b).reason == "the request was cancelled"
    assert not AcpApprover()(b).approved  # no prompt under way: nobody to ask


def test_loci_help_loads_no_acp_code() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from loci.cli.main import main\n"
        "for args in (['--help'], ['acp', '--help']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        main(args)\n"
        "assert 'acp' not in sys.modules and 'loci.acp' not in sys.modules, 'imported'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
