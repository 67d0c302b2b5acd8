"""Answers in the language of the request.

The system prompt asks for an answer "in the user's language", and small models ignore it: a
request in Chinese gets its code right and its answer in English, and "translate it into
Chinese" gets the English again. ``ask_again`` tells when a final answer's prose is not in the
language the request names ("… into Chinese") or is written in (Chinese, Japanese or Korean,
told apart by their letters) and gives the note, written in that language, that asks
once a turn for the answer translated into it: the model's own answer is quoted, so the
numbers stay those the outputs showed and names stay as written (a small model asked to
"answer in Chinese" writes a new answer, and copies the system prompt's example into it).

A request's language is that of its instruction (its first paragraph, less what it quotes
or puts after a colon: "Explain this error: ファイルが…" is English), by a majority of its
characters and words; one that names another language ("Answer in English", "翻译成英文")
wants that one, and loci leaves it alone. What is judged of an answer is prose: code (fenced
or inline), ``@field[value]`` answers and numbers are left out, and an answer with fewer than
``MIN_UNITS`` characters or words is not judged. A request that asks for ``@field[value]``
fields is read by a program, so its form matters more than its language, and it is never
sent back for this.
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
SHARE = 0.3  # of an answer's units in the script, for it to count as written in it
MAJORITY = 0.5  # of a request's: a question in English about 北京 is in English
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


# "… in/into/to <language>" after a verb that asks for text: "translate it into Chinese",
# "answer in Japanese"; not "to Korean students", "what xiexie means in Chinese"
_TARGET = re.compile(
    r"\b(?:in|into|to)\s+(?P<language>[A-Z][a-z]+)\b"
    r"(?!\s+(?!(?:and|or|please|for|if|too|as|so|with|without|then|but|only|now)\b)[a-z])"
)
_VERB = re.compile(
    r"\b(?:translat\w*|answer|reply|respond|write|summari[sz]e|explain|describe|say it)\b",
    re.IGNORECASE,
)
_NEGATED = re.compile(r"\b(?:not|never|instead of|rather than)\s*$|n't\s*$", re.IGNORECASE)
_ABOUT = re.compile(r"\b(?:means?|meaning|called|spelled|written)\b", re.IGNORECASE)
_BY_NAME = {"Chinese": CHINESE, "Mandarin": CHINESE, "Japanese": JAPANESE, "Korean": KOREAN}
_OTHERS = frozenset(
    [
        "English",
        "French",
        "German",
        "Spanish",
        "Italian",
        "Portuguese",
        "Russian",
        "Arabic",
        "Hindi",
        "Dutch",
        "Vietnamese",
        "Thai",
        "Indonesian",
        "Turkish",
    ]
)
_OTHER_IN_CJK = re.compile("英文|英语|英語|영어|法语|德语|フランス語|ドイツ語")  # "into English"
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”]*”|「[^」]*」|『[^』]*』|'[^'\n]*'")
_AFTER_COLON = re.compile(r"[:：][^\n]*")


def named_languages(request: str) -> list[str]:
    """The languages ``request`` asks its answer in by name, in order ("Chinese", "English";
    "English" too for 英文, 英語, 영어); negated ones ("not in Chinese") left out."""
    text = without_code(request)
    found = ["English" for _ in _OTHER_IN_CJK.finditer(text)]
    for m in _TARGET.finditer(text):
        name = m.group("language")
        if name not in _BY_NAME and name not in _OTHERS:
            continue
        sentence = re.split(r"[.?!\n]", text[: m.start()])[-1]
        verbs = list(_VERB.finditer(sentence))
        verb = verbs[-1] if verbs else None  # the nearest before the phrase
        if verb is None or len(sentence) - verb.end() > 80:
            continue
        between = sentence[verb.end() :]
        if _NEGATED.search(sentence[: verb.start()]) or _NEGATED.search(between):
            continue  # "don't reply in Korean", "… not in Chinese"
        if _ABOUT.search(between):
            continue  # "explain what xiexie means in Chinese"
        found.append(name)
    return found


def asked_language(request: str) -> Language | None:
    """The language ``request`` wants its answer in: the one it names ("translate your summary
    into Chinese", "answer in Japanese"), else the one its instruction is written in; None when
    that is another language, or it names one (English: "翻译成英文", "Answer in English")."""
    named = named_languages(request)
    if named:
        return _BY_NAME.get(named[0])
    return language_of(instruction(request), share=MAJORITY)


def instruction(request: str) -> str:
    """What ``request`` asks, without what it quotes: its first paragraph, quoted text and the
    rest of a line after a colon left out ("Explain this error: ファイルが…" is English)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", without_code(request)) if p.strip()]
    first = paragraphs[0] if paragraphs else ""
    return _AFTER_COLON.sub(" ", _QUOTED.sub(" ", first))


def language_of(text: str, share: float = SHARE) -> Language | None:
    """The language ``text`` is written in, when it is Chinese, Japanese or Korean: at least
    ``share`` of its units are in that script."""
    han, kana, hangul, latin = _units(text)
    total = han + kana + hangul + latin
    if not total:
        return None
    if hangul / total >= share:
        return KOREAN
    if kana and (han + kana) / total >= share:
        return JAPANESE  # Japanese writes with kanji too; kana tell it from Chinese
    if han / total >= share:
        return CHINESE
    return None


def in_language(text: str, language: Language) -> bool | None:
    """Whether ``text``'s prose is written in ``language`` (None: too little prose to say)."""
    han, kana, hangul, latin = _units(text)
    total = han + kana + hangul + latin
    if total < MIN_UNITS:
        return None
    own = {
        "Chinese": han,
        "Japanese": han + kana if kana else 0,  # Japanese without kana is Chinese
        "Korean": hangul,
    }[language.name]
    return own / total >= SHARE


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
    "instruction",
    "language_of",
    "named_languages",
]
