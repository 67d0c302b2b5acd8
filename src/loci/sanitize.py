"""The one sanitiser for text that reaches a terminal from code, a model or a file name.

A terminal obeys what it is sent: OSC 52 writes the clipboard (iTerm2, kitty, WezTerm, tmux),
OSC 0 retitles the window, ``ESC[2J`` clears the screen, cursor movement and a bare carriage
return redraw a line (a fake ``Run?`` prompt over the real one), OSC 8 hides a link's target.
``clean(text)`` keeps what printing text needs and nothing else:

- colour and style (SGR, ``ESC[…m``) stay, so Jupyter's coloured tracebacks look right;
  ``colour=False`` removes them too (Markdown exports, ``loci show``);
- newline and tab stay; ``\\r\\n`` becomes ``\\n``, a lone ``\\r`` starts a new line;
- every other escape sequence (CSI, OSC, DCS, SOS, PM, APC, and two-byte ``ESC x``) is
  removed whole, payload included;
- every other control character (C0, DEL, C1 such as the 8-bit CSI ``\\x9b``) and the Unicode
  bidirectional overrides that reorder what is shown are made visible as ``\\xNN`` or
  ``\\u202e``, so nothing invisible changes what the person reads.

``clean_event(ev)`` applies it to every text field of an event, which is how the terminal
renderer sees them.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TypeVar

__all__ = ["clean", "clean_event"]

_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_TOKEN = re.compile(
    r"(?P<sgr>\x1b\[[0-9;:]*m)"
    r"|(?P<seq>\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI: parameters, intermediates, final (maybe cut)
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\|$)"  # OSC, DCS, SOS, PM, APC to BEL or ST
    r"|\x1b[ -/]*[0-~]?)"  # two-byte escapes (ESC c, ESC 7 …) and a lone ESC
    r"|(?P<cr>\r\n?)"
    r"|(?P<ctl>[" + _CONTROLS + "])"
)
_SUSPECT = re.compile(f"[{_CONTROLS}]")  # \x1b and \r are among them


def clean(text: str, *, colour: bool = True) -> str:
    """``text`` safe to write to a terminal (see the module docstring)."""
    if not text or not _SUSPECT.search(text):
        return text

    def one(m: re.Match[str]) -> str:
        if m.group("sgr"):
            return m.group() if colour else ""
        if m.group("seq"):
            return ""
        if m.group("cr"):
            return "\n"
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _TOKEN.sub(one, text)


T = TypeVar("T")


def clean_event(ev: T) -> T:
    """A copy of an event (a dataclass) with each of its text fields cleaned; images and
    other base64 data are left as they are (nothing draws them as text)."""
    if not dataclasses.is_dataclass(ev) or isinstance(ev, type):
        return ev
    changes: dict[str, object] = {}
    for f in dataclasses.fields(ev):
        value = getattr(ev, f.name)
        if f.name == "data" and not str(getattr(ev, "mime", "text/")).startswith("text/"):
            continue
        if isinstance(value, str):
            cleaned = clean(value)
            if cleaned != value:
                changes[f.name] = cleaned
        elif isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
            changes[f.name] = tuple(clean(v) for v in value)
    return dataclasses.replace(ev, **changes) if changes else ev
