"""What the model is told: the system prompts (data files beside this module), the notes loci
adds to a conversation, and the assembly of the messages one model call is sent."""

from __future__ import annotations

import platform
import sys
from collections.abc import Collection, Sequence
from importlib import resources

from .. import compaction
from ..context import input_budget
from ..messages import Message
from ..models.base import Model, image_counter
from ..models.convert import orphan_results_to_user

RESUMED_NOTE = (
    "(This conversation was resumed: the code session was restarted, so variables, imports "
    "and open files from before are gone. Re-run what you need.)"
)
PREVIEW_NOTE = "(loci: a look at the files mentioned above)"


def load(name: str, **values: str) -> str:
    text = resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    return text.format(**values).strip()


def with_preview(request: str, preview: str) -> str:
    """The request as the model reads it: with a look at the files it names, if any."""
    return f"{request}\n\n{PREVIEW_NOTE}\n{preview}" if preview else request


def request_of(content: str) -> str:
    """The request a person wrote, from the user message ``with_preview`` made of it."""
    return content.split(f"\n\n{PREVIEW_NOTE}\n", 1)[0]


MCP_IN_CODE = (  # mcp_tools.md's, where code can call the tools too (not on a gateway)
    ". Inside `execute` they are Python functions too, for code that needs their results; "
    "each returns the tool's result and raises McpError when the call fails"
)
KNOW_HOW = (
    "Library tips for this request. Write your own code for the user's data and question; "
    "do not copy these lines:"
)


PROJECT = "The project's instructions (its AGENTS.md). Follow them:"


def system_message(
    tools: bool,
    workdir: str,
    languages: Collection[str] = (),
    know_how: Sequence[str] = (),
    project: str = "",
    mcp: str = "",
    kernel_state: str = "",
) -> Message:
    """The system prompt for a model with (``tools``) or without native tool calls;
    ``languages`` are those a kernel gateway adds to python and shell; ``know_how`` the
    recipes chosen for the request; ``project`` the workspace's AGENTS.md; ``mcp`` the section
    on MCP servers' tools (``mcp.md``, ``mcp_tools.md``, filled in by ``loci.mcp.tools``);
    ``kernel_state`` what the Python kernel holds now (``KernelState.summary``)."""
    text = load("tools" if tools else "system", workdir=workdir)
    if languages and tools:
        text += f"\nThe execute tool also takes language: {', '.join(languages)}."
    elif languages:
        fences = ", ".join(f"```{lang}" for lang in languages)
        text += f"\nThe kernel gateway also runs {fences} blocks."
    text += f"\nSystem: {platform.system()}, Python {sys.version.split()[0]}."
    if project:
        text += "\n\n" + PROJECT + "\n\n" + project
    if mcp:
        text += "\n\n" + mcp
    if kernel_state:
        text += "\n\n" + kernel_state
    if know_how:
        text += "\n\n" + KNOW_HOW + "\n\n" + "\n\n".join(know_how)
    return Message("system", text)


def for_model(
    model: Model,
    history: Sequence[Message],
    workdir: str,
    languages: Collection[str] = (),
    know_how: Sequence[str] = (),
    project: str = "",
    mcp: str = "",
    kernel_state: str = "",
    past: compaction.Past | None = None,
) -> list[Message]:
    """The messages one call sends: the system prompt (with the project's instructions, the
    request's ``know_how``, the ``mcp`` tools and the ``kernel_state``) and as much of the
    history as fits the model's window (leaving room for its reply; with ``past``, where the
    history is stored, older turns are compacted rather than dropped), in the shape its tool
    support wants."""
    system = system_message(
        model.supports_tools, workdir, languages, know_how, project, mcp, kernel_state
    )
    budget = input_budget(model.context_window)
    sent = compaction.fit(system, history, model.count_tokens, budget, past, image_counter(model))
    return orphan_results_to_user(sent) if model.supports_tools else sent
