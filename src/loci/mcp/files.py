"""The workspace's files for an MCP client: list them, read one.

The rules are the web UI's (``loci.web.files``): a path is relative to the workspace, with no
``..``, absolute part or symlink anywhere, and what is read is the regular file that was
opened, and nothing in a credential store (``.aws/``, ``.netrc``, ``.ssh/`` …, at any
depth) or of loci's own state (``LOCI_HOME``, when it lies in the workspace) is listed or
served (``web.files.refusal``). Text comes a page at a time; images (up to
``IMAGE_BYTES``) as images; other files are named, to be opened with code.
"""

from __future__ import annotations

import base64
from pathlib import Path, PurePosixPath
from typing import Any

from mcp_types import CallToolResult, ImageContent, TextContent

from ..sanitize import clean
from ..sizes import human_size
from ..web.files import INLINE_TYPES, list_files, open_download
from .results import page

IMAGE_BYTES = 5 << 20
TEXT_BYTES = 20 << 20  # a larger text file is read with code
_SNIFF = 8192


def workspace_files(workdir: Path, home: Path) -> list[dict[str, Any]]:
    """The workspace's files, newest first, as the web UI lists them."""
    return list_files(workdir, home=home)


def list_result(workdir: Path, home: Path) -> CallToolResult:
    """``workspace_files`` as a tool result: a line per file, and the entries themselves."""
    found = workspace_files(workdir, home)
    lines = [f"{f['path']} ({human_size(f['size'])})" for f in found]
    text = f"Workspace {workdir}:\n" + "\n".join(lines) if lines else f"{workdir} has no files."
    facts = {"workspace": str(workdir), "files": found}
    return CallToolResult(
        content=[TextContent(text=clean(text, colour=False))], structured_content=facts
    )


def read_file(workdir: Path, home: Path, rel: str, offset: int, limit: int) -> CallToolResult:
    """The file ``rel`` of the workspace: text from ``offset`` (``limit`` characters), an
    image, or what it is when it is neither. PathRefused / NotFoundError when it may not be
    read or is not there."""
    f, st, name = open_download(workdir, rel, home)
    with f:
        mime = INLINE_TYPES.get(PurePosixPath(name).suffix.lower())
        if mime is not None and st.st_size <= IMAGE_BYTES:
            data = base64.b64encode(f.read(IMAGE_BYTES)).decode("ascii")
            return CallToolResult(content=[ImageContent(data=data, mime_type=mime)])
        text = _decoded(f.read(st.st_size)) if st.st_size <= TEXT_BYTES else None
    if text is None:
        kind = "too large to read this way" if st.st_size > TEXT_BYTES else "not text"
        note = f"{rel}: {human_size(st.st_size)}, {kind}; open it with code (run_python) instead"
        return CallToolResult(content=[TextContent(text=note)])
    more = f"read_file(path={rel!r}, offset={{offset}})"
    body = page(clean(text, colour=False), offset, limit, more)
    return CallToolResult(content=[TextContent(text=body)])


def _decoded(data: bytes) -> str | None:
    """``data`` as UTF-8 text, or None for what is not text (a NUL near the start)."""
    if b"\x00" in data[:_SNIFF]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
