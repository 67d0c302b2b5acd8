"""Exporting a stored conversation as a notebook and as Markdown."""

from __future__ import annotations

import itertools
from pathlib import Path

import nbformat
import pytest

from loci.events import ExecutionDone, Output
from loci.export import export_ipynb, export_markdown
from loci.messages import Message
from loci.store import ConversationRecord, Store

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
    "60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def record(tmp_path: Path) -> ConversationRecord:
    ticks = itertools.count()
    with Store(tmp_path / "h.db", clock=lambda: 1_700_000_000.0 + next(ticks)) as store:
        conv = store.create_conversation(model="scripted", workdir="/w", title="Sales plot")
        store.add_message(conv, Message("system", "SECRET SYSTEM PROMPT"))
        store.add_message(conv, Message("user", "plot sales.csv"))
        store.add_message(conv, Message("assistant", "Let me look at the files first."))
        ex = store.start_execution(
            conv, block_id="b1", language="shell", code="ls\necho hi", approved_by="user"
        )
        store.add_output(ex, Output("stdout", "sales.csv\n"))
        store.add_output(ex, Output("stdout", "hi\n"))
        store.add_output(ex, Output("stderr", "warning: ```odd``` \x1b[31mred\x1b[0m\n"))
        store.finish_execution(ex, ExecutionDone(ex, "ok", 0.05, exit_code=0))
        store.add_message(conv, Message("tool", "TRIMMED VIEW", tool_call_id="b1"))
        ex2 = store.start_execution(
            conv, block_id="b2", language="python", code="df.plot()\ndf", approved_by="auto"
        )
        store.add_output(ex2, Output("display", PNG, "image/png", "<Figure>", "/w/.loci/fig1.png"))
        store.add_output(ex2, Output("result", "<table>…</table>", "text/html", "   month total"))
        store.add_output(ex2, Output("result", "42"))
        store.finish_execution(ex2, ExecutionDone(ex2, "ok", 1.5, files=("/w/fig1.png",)))
        ex3 = store.start_execution(
            conv, block_id="b3", language="python", code="1/0", approved_by="auto"
        )
        store.add_output(ex3, Output("error", "Traceback:\n\x1b[31mZeroDivisionError\x1b[0m"))
        store.finish_execution(
            ex3,
            ExecutionDone(
                ex3, "error", 0.01, error_name="ZeroDivisionError", error_value="division by zero"
            ),
        )
        ex4 = store.start_execution(conv, block_id="b4", language="r", code="x", approved_by="user")
        store.finish_execution(ex4, ExecutionDone(ex4, "denied", 0.0))
        store.add_message(conv, Message("assistant", "Here is the plot; the total is 42."))
        return store.get_conversation(conv)


def test_notebook_is_valid_and_has_outputs(record: ConversationRecord) -> None:
    text = export_ipynb(record)
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert text == export_ipynb(record)  # deterministic

    kinds = [c.cell_type for c in nb.cells]
    assert kinds == ["markdown", "markdown", "markdown", "code", "code", "code", "code", "markdown"]
    assert "SECRET" not in text and "TRIMMED VIEW" not in text
    assert nb.cells[1].source.endswith("plot sales.csv")
    assert nb.metadata["loci"]["conversation_id"] == record.id

    shell, plot, err, denied = nb.cells[3:7]
    assert shell.source == "%%bash\nls\necho hi"
    assert shell.execution_count == 1
    assert [(o.output_type, o.name, o.text) for o in shell.outputs] == [
        ("stream", "stdout", "sales.csv\nhi\n"),
        ("stream", "stderr", "warning: ```odd``` \x1b[31mred\x1b[0m\n"),
    ]

    assert plot.source == "df.plot()\ndf"
    assert [o.output_type for o in plot.outputs] == [
        "display_data",
        "execute_result",
        "execute_result",
    ]
    assert plot.outputs[0].data["image/png"] == PNG
    assert plot.outputs[0].data["text/plain"] == "<Figure>"
    assert plot.outputs[1].data["text/html"] == "<table>…</table>"
    assert plot.outputs[1].data["text/plain"] == "   month total"
    assert plot.outputs[2].data == {"text/plain": "42"}
    assert plot.outputs[2].execution_count == 2
    assert plot.metadata["loci"]["files"] == ["/w/fig1.png"]

    (error,) = err.outputs
    assert (error.output_type, error.ename, error.evalue) == (
        "error",
        "ZeroDivisionError",
        "division by zero",
    )
    assert error.traceback[-1] == "\x1b[31mZeroDivisionError\x1b[0m"

    assert denied.source == "# language: r\nx"
    assert denied.execution_count is None
    assert denied.outputs == []
    assert denied.metadata["loci"]["status"] == "denied"


def test_markdown_export(record: ConversationRecord) -> None:
    md = export_markdown(record)
    assert md.startswith("# Sales plot\n")
    assert "SECRET" not in md and "TRIMMED VIEW" not in md
    assert "## User\n\nplot sales.csv" in md
    assert "## Assistant\n\nHere is the plot; the total is 42." in md
    assert "### Ran shell (ok, 0.05s, approved by user)" in md
    assert "```bash\nls\necho hi\n```" in md
    # outputs with backticks get a longer fence; ANSI colours are stripped
    assert "````text\nsales.csv\nhi\nwarning: ```odd``` red\n````" in md
    assert "![<Figure>](/w/.loci/fig1.png)" in md
    assert "```text\n   month total\n42\n```" in md
    assert "Traceback:\nZeroDivisionError" in md
    assert "Files: `/w/fig1.png`" in md
    assert "### Not run: r (denied, by user)" in md
    assert PNG not in md


def test_empty_conversation_exports(tmp_path: Path) -> None:
    with Store(tmp_path / "h.db") as store:
        record = store.get_conversation(store.create_conversation(model="m", workdir="/w"))
    nbformat.validate(nbformat.reads(export_ipynb(record), as_version=4))
    assert export_markdown(record).startswith(f"# Conversation {record.id}\n")


def test_loci_notes_are_not_exported_as_the_users_words(tmp_path: Path) -> None:
    from loci.coaching import VERIFY_NOTE

    with Store(tmp_path / "h.db") as store:
        conv = store.create_conversation(model="scripted", workdir="/w", title="t")
        store.add_message(conv, Message("user", "what is 2+2?"))
        store.add_message(conv, Message("assistant", "4"))
        store.add_message(conv, Message("user", VERIFY_NOTE, origin="loci"))
        record = store.get_conversation(conv)
    md = export_markdown(record)
    assert "## User\n\nwhat is 2+2?" in md
    assert f"## loci\n\n{VERIFY_NOTE}" in md and f"## User\n\n{VERIFY_NOTE}" not in md
    nb = nbformat.reads(export_ipynb(record), as_version=4)
    assert [c.source.split("\n")[0] for c in nb.cells[1:]] == [
        "**User**",
        "**Assistant**",
        "**loci**",
    ]
