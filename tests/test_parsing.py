from __future__ import annotations

import pytest

from loci.parsing import Fenced, FenceParser, extract_blocks

REPLY = """Let me compute it.

```python
x = 2**100
print(x)
```

And in shell:

~~~bash
echo hi
~~~
"""


def test_blocks_with_language_tags() -> None:
    assert extract_blocks(REPLY) == [
        Fenced("python", "x = 2**100\nprint(x)", closed=True),
        Fenced("bash", "echo hi", closed=True),
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_streaming_in_any_chunk_size_gives_the_same_blocks(size: int) -> None:
    parser = FenceParser()
    for i in range(0, len(REPLY), size):
        parser.feed(REPLY[i : i + size])
    parser.finish()
    assert parser.blocks == extract_blocks(REPLY)


def test_block_reported_the_moment_its_fence_closes() -> None:
    parser = FenceParser()
    assert parser.feed("```py\nprint(1)\n") == []
    assert parser.in_fence
    assert parser.feed("```\nmore text") == [Fenced("py", "print(1)", True)]
    assert not parser.in_fence


def test_unclosed_fence_is_closed_at_the_end() -> None:
    assert extract_blocks("```python\nprint(1)") == [Fenced("python", "print(1)", closed=False)]


def test_four_backtick_fence_keeps_inner_triple_backticks() -> None:
    text = "````markdown\n```python\nx=1\n```\n````\n"
    assert extract_blocks(text) == [Fenced("markdown", "```python\nx=1\n```", True)]


def test_untagged_and_info_string() -> None:
    text = "```\nprint(1)\n```\n```python title=x.py\nprint(2)\n```"
    assert [(b.language, b.code) for b in extract_blocks(text)] == [
        ("", "print(1)"),
        ("python", "print(2)"),
    ]


def test_inline_backticks_are_not_fences() -> None:
    assert extract_blocks("use ```x``` inline and `y`\n") == []


def test_crlf_line_endings() -> None:
    assert extract_blocks("```python\r\nprint(1)\r\n```\r\n") == [
        Fenced("python", "print(1)", True)
    ]


def test_empty_unclosed_fence_is_dropped() -> None:
    assert extract_blocks("text\n```python\n") == []


def test_looping_tail_detects_a_stuck_model_but_not_normal_text() -> None:
    from loci.parsing import looping_tail

    assert looping_tail("The answer: " + "@mean_close_price[12.00], " * 12)
    assert looping_tail("x" + "ha" * 200)
    assert not looping_tail("The mean is 3.5 and the median is 3.\n" * 3)
    assert not looping_tail("| a | b | c |\n|---|---|---|\n| 1 | 2 | 3 |\n")
    assert not looping_tail("\n" * 500)
    prose = "Loading the file, then computing the mean of each column in turn. " * 2
    assert not looping_tail(prose)
