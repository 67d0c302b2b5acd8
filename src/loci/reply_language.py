"""Answers in the language of the request.

The system prompt asks for an answer "in the user's language", and small models ignore it: a
request in Chinese gets its code right and its answer in English, and "translate it into
Chinese" gets the English again. ``ask_again`` tells when a final answer's prose is not in the
language the request names ("… into Chinese") or is written in (Chinese, Japanese or Korean,
told apart by their letters) and gives the note, written in that language, that asks
once a turn for the answer translated into it: the model's own answer is quoted, so the
numbers stay those the outputs showed and names stay as written (a small model asked to
"answer in Chinese" writes a new answer, and copies the system prompt's example into it).

What is judged is prose: code (fenced or inline), ``@field[value]`` answers and numbers are
left out, and an answer with fewer than ``MIN_UNITS`` characters or words is not judged. A
request that asks for ``@field[value]`` fields is read by a program, so its form matters more
than its language, and it is never sent back for this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .answer_form import ANSWER, fields
from .parsing import without_code

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_WORD = re.compile(r"[A-Za-z]{2,}")  # a word in a Latin script (a lone x is maths)
SHARE = 0.3  # of a text's units in the script, for the text to count as written in it
MIN_UNITS = 4  # an answer with fewer is numbers and names ("It is 42."): not judged


@dataclass(frozen=True)
class Language:
    """A language a request may be written in, and how to ask for an answer in it."""

    name: str
    note: str  # asks for ``{answer}`` in this language

    def ask(self, answer: str) -> str:
        """The note that asks for ``answer`` again in this language."""
        return self.note.format(answer=answer.strip())


CHINESE = Language(
    "Chinese", "请把你的回答翻译成中文，数字和名称保持原样，不要写代码：\n\n{answer}"
)
JAPANESE = Language(
    "Japanese",
    "あなたの回答を日本語に訳してください。数値と名前はそのまま、コードは不要です：\n\n{answer}",
)
KOREAN = Language(
    "Korean", "당신의 답을 한국어로 번역해 주세요. 숫자와 이름은 그대로, 코드 없이:\n\n{answer}"
)


LANGUAGES = (CHINESE, JAPANESE, KOREAN)


def _prose(text: str) -> str:
    return ANSWER.sub(" ", without_code(text))


def _units(text: str) -> tuple[int, int, int, int]:
    """The han, kana and hangul characters and the Latin words of ``text``'s prose: a unit
    each, about as much meaning as one another (a han character is nearer a word than a
    letter)."""
    prose = _prose(text)
    latin = len(_WORD.findall(prose))
    return (
        len(_HAN.findall(prose)),
        len(_KANA.findall(prose)),
        len(_HANGUL.findall(prose)),
        latin,
    )


_NAMED = re.compile(
    r"\b(?:translat\w*|writ\w*|answer\w*|repl\w*|respond\w*|say|summar\w*|explain\w*)\b"
    r"[^.?!\n]{0,80}?\b(?:in|into|to)\s+(Chinese|Mandarin|Japanese|Korean)\b"
    r"(?!\s+(?!and\b|or\b|please\b)[a-z])",  # not "to Korean students"
    re.IGNORECASE,
)
_BY_NAME = {"chinese": "Chinese", "mandarin": "Chinese", "japanese": "Japanese", "korean": "Korean"}


def asked_language(request: str) -> Language | None:
    """The language ``request`` wants its answer in: one it names ("translate your summary
    into Chinese", "answer in Japanese"), else the one it is written in."""
    named = _NAMED.search(without_code(request))
    if named:
        name = _BY_NAME[named.group(1).lower()]
        return next(language for language in LANGUAGES if language.name == name)
    return language_of(request)


def language_of(text: str) -> Language | None:
    """The language ``text`` is written in, when it is Chinese, Japanese or Korean."""
    han, kana, hangul, latin = _units(text)
    total = han + kana + hangul + latin
    if not total:
        return None
    if hangul / total >= SHARE:
        return KOREAN
    if kana and (han + kana) / total >= SHARE:
        return JAPANESE  # Japanese writes with kanji too; kana tell it from Chinese
    if han / total >= SHARE:
        return CHINESE
    return None


def in_language(text: str, language: Language) -> bool | None:
    """Whether ``text``'s prose is written in ``language`` (None: too little prose to say)."""
    han, kana, hangul, latin = _units(text)
    own = {"Chinese": han, "Japanese": han + kana, "Korean": hangul}[language.name]
    if own + latin < MIN_UNITS:
        return None
    return own / (own + latin) >= SHARE


def ask_again(request: str, answer: str, already: bool) -> Language | None:
    """The language to ask the answer again in, when ``request`` names or is written in one
    the ``answer``'s prose is not in; None when it is, the request asks for ``@field`` values, or
    the turn ``already`` asked."""
    if already or fields(request):
        return None
    language = asked_language(request)
    if language is None or in_language(answer, language) is not False:
        return None
    return language


__all__ = [
    "CHINESE",
    "JAPANESE",
    "KOREAN",
    "LANGUAGES",
    "Language",
    "ask_again",
    "asked_language",
    "in_language",
    "language_of",
]
