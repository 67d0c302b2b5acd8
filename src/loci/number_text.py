"""Numbers as they are written in text: found, read and compared allowing for rounding.

``numbers`` finds them in prose (code spans and fences left out), ``tokens`` in any text (an
output, a string in code); a thousands separator stays in one number (``1,234``) while a
comma list is several (``1,2,3``). ``matches`` says whether a written number is one of some
values as written to its precision (``3.14`` is 3.14159).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from .parsing import without_code

NUMBER = re.compile(r"(?<![\w.])[-−]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
_THOUSANDS = re.compile(r"[-−]?\d{1,3}(,\d{3})+(\.\d+)?")


def numbers(text: str) -> list[str]:
    """The numbers written in ``text``, as written (code spans and fences left out)."""
    return tokens(without_code(text))


def tokens(text: str) -> list[str]:
    """The numbers written anywhere in ``text``, as written."""
    return [t for m in NUMBER.finditer(text) for t in split(m.group(0))]


def split(match: str) -> list[str]:
    """One match of ``NUMBER`` as the numbers it holds: ``1,234`` is one, ``1,2,3`` three."""
    token = match.rstrip(",")
    if "," in token and not _THOUSANDS.fullmatch(token):
        return [t for t in token.split(",") if t]
    return [token]


def value(token: str) -> Decimal | None:
    """The value of a written number (None if it is not one)."""
    try:
        return Decimal(token.replace(",", "").replace("−", "-"))
    except InvalidOperation:
        return None


def values(text: str) -> set[Decimal]:
    """The values of the numbers written anywhere in ``text``."""
    return {v for t in tokens(text) if (v := value(t)) is not None}


def _places(token: str) -> int:
    mantissa = token.lower().split("e")[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def matches(token: str, candidates: Iterable[Decimal]) -> bool:
    """Whether the written number ``token`` is one of ``candidates`` to its precision."""
    number = value(token)
    if number is None:
        return False
    quantum = Decimal(1).scaleb(-_places(token))
    for c in candidates:
        if c == number:
            return True
        if "e" not in token.lower():
            try:
                if c.quantize(quantum) == number or abs(c - number) <= quantum / 2:
                    return True
            except InvalidOperation:
                continue
    return False


__all__ = ["NUMBER", "matches", "numbers", "split", "tokens", "value", "values"]
