"""loci's own code in a gateway's kernel: housekeeping scripts, and the files they move.

A housekeeping script runs in the kernel in a namespace of its own (``housekeeping_code``), or in
``python3`` next to a bash kernel, and leaves its answer in ``sys._loci_out``: a user expression
of its silent execute request reads it back (``execute_content``), or bash's stdout
(``housekeeping_answer``). ``SETUP`` makes the kernel's folder and sets its ``env``; ``REMOVE``
deletes a folder; ``list_files``, ``read_file`` and ``write_file`` move files under a folder,
base64 in chunks, through ``run``: the kernel's way to run one script and return its answer.
Kernels of other languages (R, Julia, Scheme …) get none of them.
"""

from __future__ import annotations

import ast
import base64
import json
import posixpath
from collections.abc import Callable
from typing import Any

from ..errors import KernelError

__all__ = [
    "REMOVE",
    "SETUP",
    "Run",
    "execute_content",
    "housekeeping_answer",
    "housekeeping_code",
    "list_files",
    "read_file",
    "relative_path",
    "write_file",
]

Run = Callable[[str], str]  # runs a housekeeping script in the kernel; its answer
_MOST_FILES = 5000  # files listed at most
_CHUNK = 2 * 1024 * 1024  # bytes per file-transfer message (Python kernels)
_CHUNK_BASH = 256 * 1024  # through bash's stdout, which the gateway rate-limits
# housekeeping scripts leave their answer in sys._loci_out (read back as a user expression)
_EOF = "__LOCI_EOF__"  # ends a script given to python3 as a bash here-document
_OUT = "__import__('sys').__dict__.pop('_loci_out', None)"
SETUP = """import os, sys, tempfile
os.environ.update({env!r})
d = os.path.abspath(os.path.expanduser({folder!r})) if {folder!r} else tempfile.mkdtemp(
    prefix='loci-')
os.makedirs(d, exist_ok=True)
os.chdir(d)
sys._loci_out = os.getcwd()"""
_LIST = """import json, os, stat, sys
found = {{}}
for top, dirs, names in os.walk({root!r}):
    dirs[:] = [n for n in dirs if not n.startswith('.') and n != '__pycache__']
    for path in (os.path.join(top, n) for n in names[: {most} - len(found)]):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            rel = os.path.relpath(path, {root!r}).replace(os.sep, '/')
            found[rel] = [st.st_mtime, st.st_size]
    if len(found) >= {most}:
        break
sys._loci_out = json.dumps(found)"""
_PATH = """import base64, os, sys
root = os.path.realpath({root!r})
path = os.path.realpath(os.path.join(root, {rel!r}))
inside = path != root and os.path.commonpath([root, path]) == root
"""
_READ = (
    _PATH
    + """if not inside or not os.path.isfile(path) or os.path.getsize(path) > {limit}:
    sys._loci_out = 'none'
else:
    with open(path, 'rb') as f:
        f.seek({offset})
        sys._loci_out = 'data:' + base64.b64encode(f.read({size})).decode()"""
)
_WRITE = (
    _PATH
    + """if inside:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, {mode!r}) as f:
        f.write(base64.b64decode({data!r}))
sys._loci_out = 'ok' if inside else 'outside'"""
)
REMOVE = "import shutil, sys\nshutil.rmtree({root!r}, ignore_errors=True)\nsys._loci_out = 'ok'"


def relative_path(relpath: str) -> str | None:
    """``relpath`` as a clean relative POSIX path; None if absolute or climbing out."""
    rel = posixpath.normpath(relpath.replace("\\", "/"))
    return None if rel.startswith(("/", "../")) or rel in (".", "..") else rel


def execute_content(code: str, *, private: bool, bash: bool) -> dict[str, Any]:
    """An execute_request's content: a block, or loci's own (silent in Python kernels)."""
    silent = private and not bash
    return {
        "code": code,
        "silent": silent,
        "store_history": not private,
        "user_expressions": {"out": _OUT} if silent else {},
        "allow_stdin": False,
        "stop_on_error": not private,
    }


def housekeeping_code(script: str, *, bash: bool) -> str:
    """The code that runs a housekeeping script: in a namespace of its own, or in python3 next
    to a bash kernel (which prints its answer)."""
    if bash:
        return f"python3 - <<'{_EOF}'\n{script}\nsys.stdout.write(sys._loci_out)\n{_EOF}"
    return f"exec({script!r}, {{}})"


def housekeeping_answer(reply: dict[str, Any], *, bash: bool) -> str:
    """What a housekeeping script left in ``sys._loci_out``, from its execute reply."""
    if bash:
        return str(reply["stdout"]).strip()
    out = (reply.get("user_expressions") or {}).get("out") or {}
    try:
        value = ast.literal_eval((out.get("data") or {}).get("text/plain", "None"))
    except (ValueError, SyntaxError) as exc:
        raise KernelError("loci's housekeeping code gave an unreadable answer") from exc
    return value if isinstance(value, str) else ""


def list_files(run: Run, root: str) -> dict[str, tuple[float, int]]:
    """Relative path → (mtime, size) of the files under ``root`` (hidden folders skipped);
    ``{}`` when anything fails."""
    try:
        found = json.loads(run(_LIST.format(root=root, most=_MOST_FILES)))
        return {str(k): (float(v[0]), int(v[1])) for k, v in found.items()}
    except (KernelError, ValueError, TypeError, AttributeError, IndexError):
        return {}


def read_file(
    run: Run, root: str | None, relpath: str, max_bytes: int, *, bash: bool
) -> bytes | None:
    """The content of ``root/relpath``; None if it is missing, outside ``root``, larger than
    ``max_bytes`` or cannot be read."""
    rel = relative_path(relpath)
    size = _CHUNK_BASH if bash else _CHUNK
    parts: list[bytes] = []
    done = 0
    while rel is not None and root is not None:
        script = _READ.format(root=root, rel=rel, limit=max_bytes, offset=done, size=size)
        try:
            out = run(script)
            part = base64.b64decode(out[5:]) if out.startswith("data:") else None
        except (KernelError, ValueError):
            return None
        if part is None or done + len(part) > max_bytes:
            return None
        parts.append(part)
        done += len(part)
        if len(part) < size:
            return b"".join(parts)
    return None


def write_file(run: Run, root: str | None, rel: str, data: bytes, *, bash: bool) -> bool:
    """Write ``data`` to ``root/rel`` (folders created; ``rel`` from ``relative_path``), in
    chunks; False as soon as one cannot be written."""
    size = _CHUNK_BASH if bash else _CHUNK
    for start in range(0, max(len(data), 1), size):
        piece = base64.b64encode(data[start : start + size]).decode()
        mode = "ab" if start else "wb"
        script = _WRITE.format(root=root, rel=rel, mode=mode, data=piece)
        if root is None or run(script) != "ok":
            return False
    return True
