"""The form a request asks its answer in: ``@name[value]`` fields.

A request may spell out the fields its answer must carry (``@mean_price[value]``: DABench
asks so, and so can a script that reads loci's answers). Small models often get the values
right and the form wrong: a field renamed after its value (``@Switzerland[Switzerland]``),
one left out, the code's template printed unfilled (``@total[{total}]``), or no answer at all
when the step limit stops them. ``ask_again`` finds the fields a final reply lacks and, once a
turn, asks for the answer again in exactly that form, with the reply begun by the first field
where the model allows a prefill: only the answer's form is constrained, never the reasoning,
and the values still come from what the code printed.

``@answer_name[value]``, the generic description of the form some prompts add, is not a field,
nor is an ``@`` in code (``A@B[0]``, a fenced block, an inline span) or one that indexes
(``@limits[0]``: a field's placeholder is a word, ``value`` or ``"name"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .parsing import without_code

ANSWER = re.compile(r"@([A-Za-z_]\w{0,80})\[([^\]\n]{0,200})\]")  # in a reply: anywhere
# in a request, an @ that follows no name, dot or call: not ``A@B[0]``, ``x.@y[``, ``f()@z[``
FIELD = re.compile(r"(?<![\w.)])" + ANSWER.pattern)
GENERIC = frozenset({"answer_name", "field_name"})
MAX_FIELDS = 12
_TEMPLATE = re.compile(r"\{[A-Za-z_]")  # ``{total}``, ``{df['x']}``; not ``{'a': 1}``
_WORDY = re.compile(r"[\"']?[A-Za-z_]")  # a placeholder is a word, maybe quoted
_NUMBERS = re.compile(r"[-+\d.,\s%eE]+")


@dataclass(frozen=True)
class Ask:
    """What the model is told, and how its reply begins."""

    note: str
    prefill: str
    missing: tuple[str, ...]


def fields(request: str) -> dict[str, str]:
    """The fields ``request`` asks for, in order, each with its placeholder (``value``);
    code in the request (fenced or inline) is not read."""
    found: dict[str, str] = {}
    for name, placeholder in FIELD.findall(without_code(request)):
        if not _WORDY.match(placeholder.strip()):  # ``@limits[0]``, ``@x[:, 1]``: indexing
            continue
        if name not in GENERIC and name not in found and len(found) < MAX_FIELDS:
            found[name] = placeholder.strip()
    return found


def missing(reply: str, wanted: dict[str, str]) -> tuple[str, ...]:
    """The fields of ``wanted`` that ``reply`` does not fill: absent, empty, still the
    placeholder, or a template (``{…}``)."""
    filled = {name for name, value in ANSWER.findall(reply) if _filled(value, wanted.get(name))}
    return tuple(name for name in wanted if name not in filled)


def _filled(value: str, placeholder: str | None) -> bool:
    """A value, not a template or the placeholder itself (an example value, ``@n[42]``,
    may well be the answer)."""
    value = value.strip()
    if not value or _TEMPLATE.search(value):
        return False
    return value != placeholder or bool(_NUMBERS.fullmatch(value))


def ask_again(request: str, reply: str, already: bool) -> Ask | None:
    """The request to state the answer again in its form, when ``reply`` (the final answer,
    or "" when the model gave none) lacks fields the ``request`` asks for; None when it has
    them all, the request names none, or the turn ``already`` asked."""
    wanted = fields(request)
    lacking = missing(reply, wanted) if wanted and not already else ()
    if not lacking:
        return None
    form = "\n".join(f"@{name}[{placeholder or 'value'}]" for name, placeholder in wanted.items())
    given = [f"@{n}[{v}]" for n, v in ANSWER.findall(reply) if n not in GENERIC][:MAX_FIELDS]
    keep = (
        f"Your answer gave {' '.join(given)}: keep its values, under the field names asked for. "
        if given
        else ""
    )
    note = (
        "The request asks for the final answer in exactly this form, one field per line:\n"
        f"{form}\n"
        f"Your answer {'leaves out' if reply else 'did not give'}: "
        f"{', '.join('@' + n for n in lacking)}. {keep}Write the final answer now in that form, "
        "with the field names exactly as above and the values the code printed; no code."
    )
    return Ask(note, f"@{next(iter(wanted))}[", lacking)
