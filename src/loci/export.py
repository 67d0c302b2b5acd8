"""Export a stored conversation as a Jupyter notebook or as Markdown.

Both are pure functions of a ``ConversationRecord``: user and assistant text become markdown,
each execution becomes a code cell (a ``%%bash`` cell for shell code) carrying its stored
outputs. System and tool messages are left out: the first is loci's prompt, the second the
trimmed view of outputs the model saw, which the execution cells hold in full.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from loci.events import Output
from loci.grounding import unbacked_warning
from loci.sanitize import clean
from loci.store.records import ConversationRecord, ExecutionRecord, MessageRecord

SHELL_LANGUAGES = frozenset({"shell", "bash", "sh", "zsh", "console"})
PYTHON_LANGUAGES = frozenset({"python", "py", "python3", "ipython"})
_SHOWN_ROLES = frozenset({"user", "assistant"})


def _author(item: MessageRecord) -> str:
    """Whose words a shown message is: the user's, the assistant's, or one of loci's notes."""
    if item.role == "assistant":  # set aside: an attempt the vote of ``effort`` did not keep
        return "Assistant (an attempt set aside by the vote)" if item.set_aside else "Assistant"
    return "User" if item.message.by == "person" else "loci"


# -- notebook ---------------------------------------------------------------------------------
#
# The notebook is built as plain JSON-shaped dicts (nbformat's builders are untyped) and checked
# against the official schema with ``nbformat.validate`` before it is returned.

Json = dict[str, Any]


def export_ipynb(record: ConversationRecord) -> str:
    """The conversation as a valid nbformat v4 notebook (JSON text)."""
    import nbformat  # its schema checker is slow to import: only a notebook export needs it

    s = record.summary
    cells: list[Json] = [_markdown_cell(f"# {_title(record)}")]
    if branched := branch_note(record):
        cells.append(_markdown_cell(branched))
    if record.instructions:
        cells.append(_markdown_cell(_instructions(record)))
    count = 0
    for item in record.items:
        if isinstance(item, MessageRecord):
            if item.role in _SHOWN_ROLES and item.content.strip():
                heading = f"**{_author(item)}**"
                warning = unbacked_warning(item.grounding)
                note = f"\n\n> {warning}" if warning else ""
                cells.append(_markdown_cell(f"{heading}\n\n{item.content}{note}"))
        else:
            ran = item.status not in ("denied", "skipped")
            count += ran
            cells.append(_code_cell(item, count if ran else None))
    for n, cell in enumerate(cells, 1):
        cell["id"] = f"cell-{n}"  # deterministic ids: the same history exports the same file
    nb: Json = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "loci": {
                "conversation_id": s.id,
                "model": s.model,
                "workdir": s.workdir,
                **({"parent_id": s.parent_id} if s.parent_id is not None else {}),
            },
        },
        "cells": cells,
    }
    nbformat.validate(nb)
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _markdown_cell(source: str) -> Json:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def _code_cell(ex: ExecutionRecord, count: int | None) -> Json:
    source = ex.code
    if ex.language.lower() in SHELL_LANGUAGES:
        source = f"%%bash\n{ex.code}"
    elif ex.language.lower() not in PYTHON_LANGUAGES:
        source = f"# language: {ex.language}\n{ex.code}"
    meta = {
        "loci": {
            "execution_id": ex.id,
            "language": ex.language,
            "status": ex.status,
            "approved_by": ex.approved_by,
            "sandbox": ex.sandbox,
            "risk": ex.risk,
            "limit_hit": ex.limit_hit,
            "truncated": ex.truncated,
            "duration": ex.duration,
            "files": list(ex.files),
        }
    }
    return {
        "cell_type": "code",
        "execution_count": count,
        "metadata": meta,
        "outputs": _nb_outputs(ex, count),
        "source": source,
    }


def _nb_outputs(ex: ExecutionRecord, count: int | None) -> list[Json]:
    result: list[Json] = []
    for out in ex.outputs:
        if out.stream in ("stdout", "stderr"):
            last = result[-1] if result else None
            if last is not None and last["output_type"] == "stream" and last["name"] == out.stream:
                last["text"] += out.data  # merge consecutive chunks of one stream, as Jupyter does
            else:
                result.append({"output_type": "stream", "name": out.stream, "text": out.data})
        elif out.stream == "error":
            result.append(
                {
                    "output_type": "error",
                    "ename": ex.error_name or "Error",
                    "evalue": ex.error_value,
                    "traceback": out.data.splitlines(),
                }
            )
        elif out.stream == "result":
            result.append(
                {
                    "output_type": "execute_result",
                    "data": _bundle(out),
                    "metadata": {},
                    "execution_count": count,
                }
            )
        else:
            result.append({"output_type": "display_data", "data": _bundle(out), "metadata": {}})
    return result


def _bundle(out: Output) -> dict[str, Any]:
    """A MIME bundle for one output: its own data plus the plain-text fallback."""
    bundle: dict[str, Any] = {}
    if out.data or out.mime == "text/plain":
        bundle[out.mime] = out.data
    if out.mime != "text/plain" and (out.text or not bundle):
        bundle["text/plain"] = out.text or out.path or f"<{out.mime}>"
    return bundle


# -- markdown ---------------------------------------------------------------------------------


def export_markdown(record: ConversationRecord) -> str:
    """The conversation as Markdown: a heading per turn, fenced code and outputs."""
    s = record.summary
    created = datetime.fromtimestamp(s.created).astimezone().isoformat(timespec="seconds")
    parts = [
        f"# {_title(record)}",
        f"Model: `{s.model}` · Directory: `{s.workdir}` · Started: {created}",
    ]
    if branched := branch_note(record):
        parts.append(branched)
    if record.instructions:
        parts.append(_instructions(record))
    for item in record.items:
        if isinstance(item, MessageRecord):
            if item.role in _SHOWN_ROLES and item.content.strip():
                parts.append(f"## {_author(item)}\n\n{item.content.strip()}")
                if warning := unbacked_warning(item.grounding):
                    parts.append(f"> {warning}")
        else:
            parts.append(execution_markdown(item))
    # what code, a model or a file name wrote reaches a terminal (``loci show``) or an
    # editor only through the one sanitiser, colour codes removed too
    return clean("\n\n".join(parts) + "\n", colour=False)


def branch_note(record: ConversationRecord) -> str:
    """Where a branch came from ("" for a conversation that is not one)."""
    s = record.summary
    if s.branched_at_request is None:
        return ""
    if s.parent_id is None:
        return f"A branch from request {s.branched_at_request} of a conversation since deleted."
    return (
        f"A branch of conversation {s.parent_id}: request {s.branched_at_request} was edited "
        f"and the conversation went on from there (`loci show {s.parent_id}` has the original)."
    )


def _instructions(record: ConversationRecord) -> str:
    """The project's AGENTS.md as the model was given it, quoted."""
    quoted = "\n".join(f"> {line}".rstrip() for line in record.instructions.splitlines())
    return f"**Project instructions** (`{record.instructions_source}`):\n\n{quoted}"


def execution_markdown(ex: ExecutionRecord) -> str:
    """One execution as Markdown: what ran, its audit line, every stored output in full."""
    lang = "bash" if ex.language.lower() in SHELL_LANGUAGES else ex.language
    if ex.status in ("denied", "skipped"):
        heading = f"### Not run: {ex.language} ({ex.status}, by {ex.approved_by})"
    else:
        status = ex.status if ex.duration is None else f"{ex.status}, {ex.duration:.2f}s"
        heading = f"### Ran {ex.language} ({status}, approved by {ex.approved_by})"
    lines = [
        heading,
        _audit(ex),
        _fence(ex.code, lang),
    ]
    text: list[str] = []  # consecutive text outputs form one block
    for out in ex.outputs:
        image = out.mime.startswith("image/")
        if out.stream in ("stdout", "stderr", "error") or not image:
            text.append(_md_text(out))
            continue
        if text:
            lines.append(_fence("".join(text), "text"))
            text = []
        lines.append(f"![{out.text or 'output'}]({out.path})" if out.path else f"*[{out.mime}]*")
    if text:
        lines.append(_fence("".join(text), "text"))
    if ex.message:
        lines.append(f"*{ex.message}*")
    if ex.files:
        lines.append("Files: " + ", ".join(f"`{f}`" for f in ex.files))
    return "\n\n".join(lines)


def _audit(ex: ExecutionRecord) -> str:
    """The audit line: when, by whom, in which sandbox, risk and limits."""
    when = datetime.fromtimestamp(ex.started).astimezone().isoformat(timespec="seconds")
    parts = [f"at {when}", f"by {ex.approved_by}", f"sandbox {ex.sandbox}"]
    if ex.risk:
        parts.append(f"risk: {ex.risk}")
    if ex.limit_hit:
        parts.append(f"limit hit: {ex.limit_hit}")
    if ex.truncated:
        parts.append(f"output cut ({ex.output_bytes} characters produced)")
    return "Audit: " + " · ".join(parts)


def _md_text(out: Output) -> str:
    if out.stream in ("stdout", "stderr", "error") or out.mime == "text/plain":
        body = out.data
    else:
        body = out.text or out.data
    return body if not body or body.endswith("\n") else body + "\n"


def _fence(body: str, lang: str) -> str:
    """``body`` in a code fence longer than any run of backticks inside it."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body.rstrip(chr(10))}\n{ticks}"


def _title(record: ConversationRecord) -> str:
    return record.summary.title or f"Conversation {record.summary.id}"
