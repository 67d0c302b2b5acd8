"""input() and getpass in a real Python kernel, answered (or not) through the session's
InputProvider: what the model reads, what is stored, Stop and timeout while waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from loci.approval import auto_approve
from loci.config import Settings
from loci.events import Event, ExecutionDone, InputRequest, Output, TurnDone, to_dict
from loci.kernels.stdin import EOF, to_request
from loci.models.scripted import ScriptedModel
from loci.session import Session
from loci.stdin import MASK, NO_ANSWER, InputProvider, answered, no_input


class Typist:
    """Answers each read with the next of ``answers``; None: wait until Stop or timeout."""

    can_answer = True

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.asked: list[InputRequest] = []

    def __call__(
        self, request: InputRequest, stop: threading.Event, timeout: float | None
    ) -> str | None:
        self.asked.append(request)
        text = self.answers.pop(0)
        if text is None:
            stop.wait(timeout)
        return text


def open_session(settings: Settings, stdin: InputProvider) -> tuple[Session, ScriptedModel]:
    model = ScriptedModel()
    return Session(settings, model=model, approver=auto_approve, stdin=stdin), model


@pytest.fixture
def typed(settings: Settings) -> Iterator[tuple[Session, ScriptedModel, Typist]]:
    typist = Typist()
    session, model = open_session(settings, typist)
    with session:
        yield session, model, typist


def outputs(events: list[Event], stream: str) -> list[Output]:
    return [e for e in events if isinstance(e, Output) and e.stream == stream]


def tool_results(session: Session) -> list[str]:
    return [m.content for m in session.messages if m.role == "tool"]


def test_input_is_answered_stored_and_read_back_by_the_model(
    typed: tuple[Session, ScriptedModel, Typist],
) -> None:
    s, model, typist = typed
    typist.answers = ["Ada"]
    model.enqueue("```python\nprint('hi')\nname = input('name? ')\nprint('hello', name)\n```")
    model.enqueue("Done.")
    events = list(s.run("greet"))
    asks = [e for e in events if isinstance(e, InputRequest)]
    assert [(a.prompt, a.password) for a in asks] == [("name? ", False)]
    assert asks[0].execution_id > 0 and to_dict(asks[0])["type"] == "input_request"
    kinds = [e.stream for e in events if isinstance(e, Output)]
    assert kinds == ["stdout", "stdin", "stdout"]  # in the order a terminal shows them
    assert outputs(events, "stdin")[0].data == "name? Ada\n"
    assert outputs(events, "stdout")[-1].data == "hello Ada\n"
    record = str(s.store.get_conversation(s.conversation_id).to_dict())
    assert "name? Ada" in record
    assert "name? Ada\nhello Ada" in tool_results(s)[0]


def test_a_password_answer_is_used_but_never_stored(
    typed: tuple[Session, ScriptedModel, Typist],
) -> None:
    s, model, typist = typed
    typist.answers = ["hunter2"]
    model.enqueue(
        "```python\nimport getpass\npw = getpass.getpass('password: ')\nprint(len(pw))\n```"
    )
    model.enqueue("Done.")
    events = list(s.run("log in"))
    assert typist.asked[0].password
    assert outputs(events, "stdin")[0].data == f"password: {MASK}\n"
    assert outputs(events, "stdout")[0].data == "7\n"  # the kernel got the real answer
    assert "hunter2" not in str(s.store.get_conversation(s.conversation_id).to_dict())
    assert "hunter2" not in "".join(str(to_dict(e)) for e in events)
    assert "hunter2" not in "".join(tool_results(s))


def test_nobody_to_answer_means_end_of_file_at_once_and_the_model_is_told(
    settings: Settings,
) -> None:
    s, model = open_session(settings, no_input)
    with s:
        model.enqueue("```python\nx = input('continue? ')\n```")
        model.enqueue("It could not ask.")
        started = time.monotonic()
        events = list(s.run("ask"))
        done = next(e for e in events if isinstance(e, ExecutionDone))
        assert done.status == "error" and done.error_name == "EOFError"
        assert time.monotonic() - started < 10
        result = tool_results(s)[0]
        assert NO_ANSWER in result and "continue?" in result and "EOFError" in result


def test_stop_while_waiting_interrupts_the_block(
    typed: tuple[Session, ScriptedModel, Typist],
) -> None:
    s, model, typist = typed
    typist.answers = [None]  # waits
    model.enqueue("```python\ninput('waiting: ')\n```")
    timer = threading.Timer(1.5, s.interrupt)
    timer.start()
    events = list(s.run("wait"))
    timer.join()
    done = next(e for e in events if isinstance(e, ExecutionDone))
    assert done.status == "interrupted"
    assert not outputs(events, "stdin")  # nothing was answered, nothing is recorded as typed
    last = events[-1]
    assert isinstance(last, TurnDone) and last.status == "interrupted"
    model.enqueue("```python\nprint('still', 'here')\n```")
    model.enqueue("ok")
    again = list(s.run("still there?"))
    assert outputs(again, "stdout")[0].data == "still here\n"


def test_the_timeout_keeps_running_while_the_code_waits(settings: Settings) -> None:
    typist = Typist(None)
    s, model = open_session(settings.replace(timeout=1.5), typist)
    with s:
        model.enqueue("```python\ninput('slow: ')\n```")
        model.enqueue("It timed out.")
        started = time.monotonic()
        events = list(s.run("wait"))
        done = next(e for e in events if isinstance(e, ExecutionDone))
        assert done.status == "timeout"
        assert time.monotonic() - started < 15
        assert typist.asked and typist.asked[0].prompt == "slow: "


def test_stdin_messages_and_records_as_plain_data() -> None:
    msg = {
        "msg_type": "input_request",
        "parent_header": {"msg_id": "m1"},
        "content": {"prompt": "pw: ", "password": True},
    }
    assert to_request(msg, "m1") == InputRequest("pw: ", True)
    assert to_request(msg, "other") is None
    assert to_request({**msg, "msg_type": "stream"}, "m1") is None
    assert EOF == "\x04"
    ask = InputRequest("pw: ", True, execution_id=3)
    assert answered(ask, "secret").data == f"pw: {MASK}\n"
    assert answered(ask, None, asked=False).text == NO_ANSWER
    assert answered(InputRequest("n? "), "x").data == "n? x\n"
