"""The embedded model: a GGUF file run in-process by llama-cpp-python.

``load_local_model(rest, settings)`` resolves the part of a model spec after ``local:``:
``""`` is the default catalog model for this machine (``machine_default``: the 1.5B where
there are the cores and memory for it, else the 0.5B), a catalog name is installed on first
use (reporting to the caller's progress callback, e.g. the CLI's bar: a newcomer's first run
just works), and anything else is a path to a ``.gguf`` file.

``LocalModel`` speaks text only (``supports_tools = False``): tool calls and results are
flattened into fenced blocks and user messages. The prompt is the GGUF's own chat template,
rendered by llama-cpp-python; usage is counted exactly with the model's tokenizer. Sampling
is greedy with a mild repeat penalty, which suits small coding models.

``llama_cpp`` is imported lazily, on load. Threads: one per usable core (``loci.machine``).
llama.cpp built with OpenMP spins erratically on two cores unless ``OMP_WAIT_POLICY=active``
is set before import; loci's install notes build with ``-DGGML_OPENMP=OFF``, which avoids
that, and library code never changes ``os.environ``: users of an OpenMP build can export the
variable themselves.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelError, ModelNotFoundError
from ..events import Usage
from ..machine import Machine, this_machine, usable_cores
from ..messages import Message, ToolSpec
from .base import MESSAGE_TOKENS, ModelChunk, TextChunk, UsageChunk, import_extra
from .catalog import CATALOG, PREFERRED, CatalogEntry, Sampling, default_entry, get_entry
from .convert import flatten_tool_messages
from .install import ProgressCallback, install_model

if TYPE_CHECKING:
    from ..config import Settings

DEFAULT_CONTEXT = 8192


def _import_llama() -> Any:
    return import_extra("llama_cpp", "The embedded local model", "local", "llama-cpp-python")


class LocalModel:
    """The Model protocol over a ``llama_cpp.Llama`` loaded from ``path``."""

    supports_tools = False

    def __init__(
        self,
        path: Path,
        *,
        name: str = "local",
        context_window: int = DEFAULT_CONTEXT,
        sampling: Sampling | None = None,
        n_threads: int | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.context_window = context_window
        self.sampling = sampling or Sampling()
        self.max_tokens = self.sampling.max_tokens
        self.seed: int | None = None  # of a sampled twin (``varied``); None: llama's own
        llama_cpp = _import_llama()
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=context_window,
                n_threads=n_threads or usable_cores(),
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"cannot load {path} as a GGUF model: {exc}") from exc
        self._formatter = self._make_formatter(llama_cpp)
        self._lock = threading.Lock()

    def _make_formatter(self, llama_cpp: Any) -> Any:
        """The same formatter llama-cpp-python builds from the GGUF's template; None if the
        file has no template (llama-cpp-python then uses a fallback format)."""
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp import llama_chat_format

        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        model = self._llm._model
        return llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )

    def varied(self, seed: int) -> LocalModel:
        """A twin that draws its replies at ``vote_temperature`` with ``seed`` (an attempt
        after the first, ``loci.vote``): the same loaded weights and lock, its own sampling.
        It is never closed: this model owns the weights."""
        twin = copy.copy(self)
        twin.sampling = dataclasses.replace(
            self.sampling, temperature=self.sampling.vote_temperature
        )
        twin.seed = seed
        return twin

    def _draw(self) -> dict[str, Any]:
        """The sampling arguments of a llama.cpp call."""
        args: dict[str, Any] = {
            "temperature": self.sampling.temperature,
            "repeat_penalty": self.sampling.repeat_penalty,
            "max_tokens": self.max_tokens,
        }
        if self.seed is not None:
            args["seed"] = self.seed
        return args

    def close(self) -> None:
        """Free the loaded model now (it can take gigabytes), not whenever it is collected."""
        self._llm.close()

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def count_prompt_tokens(self, messages: Sequence[dict[str, str]]) -> int:
        """Exactly what the prompt costs, rendered through the chat template."""
        if self._formatter is None:
            return sum(self.count_tokens(m["content"]) + MESSAGE_TOKENS for m in messages)
        import jinja2

        try:
            result = self._formatter(messages=list(messages))
        except (jinja2.TemplateError, ValueError, TypeError) as exc:
            raise ModelError(f"{self.name}: its chat template failed: {exc}") from exc
        tokens = self._llm.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        return len(tokens)

    supports_prefill = True

    def stream(
        self,
        messages: Sequence[Message],
        *,
        cancel: threading.Event | None = None,
        tools: Sequence[ToolSpec] = (),
        prefill: str = "",
    ) -> Iterator[ModelChunk]:
        """Stream a reply. ``prefill`` starts the reply with given text (e.g. a code fence)
        that the model then continues; it is part of the streamed text. ``tools`` are not
        offered: this model writes fenced code (and calls MCP tools from Python)."""
        wire = [{"role": m.role, "content": m.content} for m in flatten_tool_messages(messages)]
        prompt_tokens = self.count_prompt_tokens(wire)
        if prompt_tokens >= self.context_window:
            raise ModelError(
                f"the conversation is {prompt_tokens} tokens; {self.name} sees at most "
                f"{self.context_window}"
            )
        text: list[str] = []
        if prefill and self._formatter is not None:
            text.append(prefill)
            yield TextChunk(prefill)
            pieces = self._continue(wire, prefill, cancel)
        else:
            pieces = self._generate(wire, cancel)
        with self._lock:
            for piece in pieces:
                text.append(piece)
                yield TextChunk(piece)
        completion = self.count_tokens("".join(text))
        yield UsageChunk(Usage(prompt_tokens=prompt_tokens, completion_tokens=completion))

    def _generate(
        self, wire: list[dict[str, str]], cancel: threading.Event | None
    ) -> Iterator[str]:
        try:
            chunks = self._llm.create_chat_completion(
                messages=wire,
                stream=True,
                **self._draw(),
            )
            with closing(chunks):
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        return
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.name}: generation failed: {exc}") from exc

    def _continue(
        self, wire: list[dict[str, str]], prefill: str, cancel: threading.Event | None
    ) -> Iterator[str]:
        """Like ``_generate``, but the assistant's reply already begins with ``prefill``."""
        try:
            result = self._formatter(messages=wire)
            chunks = self._llm.create_completion(
                prompt=result.prompt + prefill,
                stream=True,
                stop=result.stop,
                **self._draw(),
            )
            with closing(chunks):
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        return
                    piece = chunk["choices"][0].get("text")
                    if piece:
                        yield piece
        except (ValueError, RuntimeError, TypeError) as exc:
            raise ModelError(f"{self.name}: generation failed: {exc}") from exc


def _unknown(rest: str) -> ModelNotFoundError:
    names = ", ".join(CATALOG)
    return ModelNotFoundError(
        f"unknown local model {rest!r}: use one of {names}, or a path to a .gguf file"
    )


def machine_default() -> tuple[CatalogEntry, Machine]:
    """The embedded model ``local`` alone means here, and the machine it was chosen for."""
    machine = this_machine()
    return default_entry(machine.cores, machine.memory_gb), machine


def default_note() -> str:
    """The start-up line that says which embedded model ``local`` chose, and why."""
    entry, machine = machine_default()
    others = ", ".join(f"local:{n}" for n in PREFERRED if n != entry.name)
    return (
        f"embedded model {entry.name}, chosen for this machine ({machine.describe()}); "
        f"another with -m {others}"
    )


def load_local_model(
    rest: str, settings: Settings, *, progress: ProgressCallback | None = None
) -> LocalModel:
    """``rest`` is what follows ``local:`` — empty, a catalog name, or a .gguf path.

    A catalog model not yet installed is installed first; ``progress`` receives the install
    progress (default: none is reported).
    """
    _import_llama()  # before a download: without the engine the model is of no use
    rest = rest.strip()
    entry = get_entry(rest) if rest else machine_default()[0]
    if entry is not None:
        path = install_model(entry, settings.model_dir, progress=progress)  # or the one in place
        context = settings.context_window or entry.context_window
        return LocalModel(
            path, name=f"local:{entry.name}", context_window=context, sampling=entry.sampling
        )
    candidate = Path(rest).expanduser()
    if candidate.suffix.lower() != ".gguf" and not candidate.is_file():
        raise _unknown(rest)
    if not candidate.is_file():
        raise ModelNotFoundError(f"model file not found: {candidate}")
    context = settings.context_window or DEFAULT_CONTEXT
    return LocalModel(candidate, name=f"local:{candidate}", context_window=context)
