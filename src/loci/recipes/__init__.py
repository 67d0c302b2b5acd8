"""Know-how a small model can use: short recipes, kept as data files beside this module and
chosen by what a request is about.

Each ``*.md`` file here is one recipe: a front matter line ``keywords: a, b, 中文, …``, a
sentence, and a few ``- `` lines naming the calls that do the job. Not a whole script: given
a complete worked example, the 0.5B model ran it as it stood (its made-up file and column
names included) instead of writing code for the user's data.

A request that mentions a recipe's keywords gets that recipe in the system prompt of its
model calls (at most ``MAX_RECIPES``, the most mentioned first); the history keeps only what
the person and the model wrote. English keywords match whole words, any case; others
(Chinese) match anywhere. To add a recipe, add a file; ``tests/test_recipes.py`` checks
every file's shape.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

MAX_RECIPES = 2  # per request: more costs a small model's window more than it helps


@dataclass(frozen=True)
class Recipe:
    name: str  # the file's stem
    keywords: tuple[str, ...]
    text: str  # what the model reads

    def hits(self, request: str) -> int:
        """How many of the keywords ``request`` mentions."""
        lowered = request.lower()
        return sum(1 for k in self.keywords if _mentions(lowered, k))


def _mentions(lowered: str, keyword: str) -> bool:
    if keyword.isascii():
        return re.search(rf"(?<![\w-]){re.escape(keyword)}(?![\w-])", lowered) is not None
    return keyword in lowered


def parse(name: str, source: str) -> Recipe:
    """A recipe from its file's text; ValueError when the front matter is missing."""
    match = re.match(r"---\nkeywords:(?P<keys>[^\n]*)\n---\n(?P<body>.+)", source, re.S)
    if match is None:
        raise ValueError(f"recipe {name}: it must start with ---, keywords: …, ---")
    keys = tuple(k.strip().lower() for k in match["keys"].split(",") if k.strip())
    return Recipe(name, keys, match["body"].strip())


@functools.cache
def all_recipes() -> tuple[Recipe, ...]:
    folder = resources.files(__package__)
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".md")), key=lambda f: f.name)
    return tuple(parse(f.name[: -len(".md")], f.read_text(encoding="utf-8")) for f in files)


def choose(request: str, recipes: tuple[Recipe, ...] | None = None) -> tuple[Recipe, ...]:
    """The recipes ``request`` is about, the most mentioned first (at most MAX_RECIPES)."""
    scored = [(r.hits(request), i, r) for i, r in enumerate(recipes or all_recipes())]
    chosen = sorted((s for s in scored if s[0]), key=lambda s: (-s[0], s[1]))
    return tuple(r for _, _, r in chosen[:MAX_RECIPES])
