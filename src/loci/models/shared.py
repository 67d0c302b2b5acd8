"""Embedded models shared by many conversations at once: ``loci serve`` and ``loci acp``.

API-backed models are cheap to create per conversation. An embedded model (``local...``, a
provider marked ``shared``) is a large file loaded into memory and is not safe to drive from
two threads, so ``DefaultModels`` loads each one once and lets one conversation stream from
it at a time (``SerializedModel``); every other spec gets a model of its own.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sequence

from ..config import Settings
from ..messages import Message, ToolSpec
from .base import Model, ModelChunk, close_model
from .install import InstallProgress


class SerializedModel:
    """A shared model whose ``stream`` holds a lock until the stream is closed or exhausted."""

    def __init__(self, model: Model) -> None:
        self.inner = model
        self.name = model.name
        self.context_window = model.context_window
        self.supports_tools = model.supports_tools
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        cancel: threading.Event | None = None,
        tools: Sequence[ToolSpec] = (),
    ) -> Iterator[ModelChunk]:
        with self._lock:
            chunks = self.inner.stream(messages, cancel=cancel, tools=tools)
            try:
                yield from chunks
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()


def log_install(p: InstallProgress) -> None:
    """Install progress as plain lines on the server's stderr, one a part (no bar)."""
    if p.stage == "download":
        sys.stderr.write(f"loci: fetching {p.model}, part {p.part} of {p.parts}\n")
        sys.stderr.flush()


class DefaultModels:
    """``get_model`` per conversation, with embedded models loaded once and shared (an
    install they need first is logged by ``log_install``)."""

    def __init__(self) -> None:
        self._shared: dict[tuple[str, str], SerializedModel] = {}
        self._lock = threading.Lock()

    def __call__(self, settings: Settings) -> Model:
        from .registry import get_model, parse_spec

        spec = settings.model.strip()
        if not parse_spec(spec, api_base=settings.api_base)[0].shared:
            return get_model(settings)
        key = (spec, str(settings.model_dir))
        with self._lock:
            shared = self._shared.get(key)
            if shared is None:
                model = get_model(settings, progress=log_install)
                shared = self._shared[key] = SerializedModel(model)
            return shared

    def close(self) -> None:
        """Release the shared models (when the process that serves them is done)."""
        with self._lock:
            shared, self._shared = list(self._shared.values()), {}
        for model in shared:
            close_model(model.inner)
