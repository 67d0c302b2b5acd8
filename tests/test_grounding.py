"""Which sources back an answer's numbers: outputs, data literals that were shown, file previews."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from loci.approval import auto_approve
from loci.coaching import ECHO_NOTE
from loci.code_numbers import data_literals, last_assigned, typed_numbers
from loci.config import Settings
from loci.events import Event, Grounding, KernelResult, Notice, Output
from loci.files import describe_files
from loci.grounding import Evidence, ground, output_texts, shown_literals, shown_outputs
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.models.scripted import ScriptedModel
from loci.session import Session

PLOT = (
    "import pandas as pd\n"
    'df = pd.DataFrame({"year": [2020, 2021], "sales": [1520.5, 1733.2]})\n'
    'df.plot(x="year", y="sales")\n'
)
FIGURE = Output("display", "iVBORw0KGgo=", mime="image/png", text="<Figure size 640x480>")


def final_grounding(settings: Settings, fake_pool: KernelPool, replies: list[str], text: str,
                    *scripts: tuple[Output | KernelResult, ...]) -> Grounding:  # fmt: skip
    """The grounding of the answer a scripted session gives to ``text``."""
    with Session(
        settings, model=ScriptedModel(replies), kernels=fake_pool, approver=auto_approve
    ) as s:
        py = s.kernels.get("python")
        assert isinstance(py, FakeKernel)
        for script in scripts:
            py.enqueue(*script)
        events: list[Event] = list(s.run(text))
    found = [e for e in events if isinstance(e, Grounding)]
    assert found, "no grounding event"
    return found[-1]


# -- the rule, unit by unit --------------------------------------------------------------------


def test_printed_outputs_back_as_before() -> None:
    g = ground("The mean is 3.14 and the total 1,200.", ["3.14159\n", "1200\n"], "")
    assert g == Grounding(("3.14", "1,200"), ())
    assert ground("It is 57.", Evidence(outputs=["57\n"])).supported == ("57",)


def test_data_literals_are_containers_with_two_numbers_or_more() -> None:
    assert data_literals(PLOT) == [Decimal(n) for n in ("2020", "2021", "1520.5", "1733.2")]
    assert data_literals("plt.bar(['a', 'b'], [3.2, -4.5])") == [Decimal("3.2"), Decimal("-4.5")]
    assert data_literals("x = 42\nprint(x)") == []  # a scalar is typed, not data
    assert data_literals("x = [42]\nplt.plot(x)") == []  # so is a one-number list
    assert data_literals("%matplotlib inline\nplt.plot([11, 12])") == [Decimal(11), Decimal(12)]
    assert data_literals("def f(:") == []


def test_data_no_line_reads_backs_nothing() -> None:
    assert data_literals('r = {"mean": 42.1, "std": 3.3}\nprint("done")') == []
    shown = 'r = {"mean": 42.1, "std": 3.3}\nshow(r)'
    assert data_literals(shown) == [Decimal("42.1"), Decimal("3.3")]
    assert data_literals('df["x"] = [15, 16]') == [Decimal(15), Decimal(16)]  # changes df


def test_literals_count_only_when_the_run_ended_ok_and_showed_something() -> None:
    assert shown_literals("python", PLOT, "ok", [FIGURE])
    assert shown_literals("python", PLOT, "ok", [], ["out/plot.png"])  # saved to a file
    assert shown_literals("python", PLOT, "ok", []) == []  # showed nothing
    error = Output("error", "Traceback ...", text="KeyError: 'sales'")
    assert shown_literals("python", PLOT, "ok", [error]) == []
    assert shown_literals("python", PLOT, "error", [FIGURE]) == []
    assert shown_literals("shell", "echo [11, 12]", "ok", [FIGURE]) == []


def test_an_image_backs_by_its_text_never_its_base64() -> None:
    image = Output("display", "AAAA/123+456", mime="image/png", text="")
    assert output_texts([image, Output("stdout", "7.5\n")]) == ["", "7.5\n"]
    assert ground("Look at 123.", output_texts([image])).unsupported == ("123",)


def test_the_file_preview_backs_what_it_shows_and_only_that(tmp_path: Path) -> None:
    csv = tmp_path / "sales.csv"
    csv.write_text("month,total\n" + "".join(f"m{i},{1000 + i * 37}\n" for i in range(20)))
    preview = describe_files([csv])
    g = ground("January was 1000, February 1037; row 15 is 1555.", Evidence(files=preview))
    assert g == Grounding(("1000", "1037"), ("15", "1555"))


# -- in a session --------------------------------------------------------------------------------


def test_a_dataframe_from_literals_then_plotted_is_not_flagged(
    settings: Settings, fake_pool: KernelPool
) -> None:
    replies = [f"```python\n{PLOT}```", "Sales rose from 1520.5 in 2020 to 1733.2 in 2021."]
    g = final_grounding(
        settings, fake_pool, replies, "Plot these sales.", (FIGURE, KernelResult("ok"))
    )
    assert g == Grounding(("1520.5", "2020", "1733.2", "2021"), ())


def test_a_typed_scalar_restated_with_no_output_is_still_flagged(
    settings: Settings, fake_pool: KernelPool
) -> None:
    replies = ["```python\nx = 42\n```", *["The answer is 42."] * 3]  # nudged twice to print
    g = final_grounding(
        settings, fake_pool, replies, "What is six times seven?", (KernelResult("ok"),)
    )
    assert g == Grounding((), ("42",))


def test_a_hard_coded_print_is_sent_back_once_for_code_that_computes_it(
    settings: Settings, fake_pool: KernelPool
) -> None:
    replies = ["```python\nprint(42)\n```", "The answer is 42.", "```python\nprint(6 * 7)\n```",
               "The answer is 42."]  # fmt: skip
    stdout = Output("stdout", "42\n")
    with Session(
        settings, model=ScriptedModel(replies), kernels=fake_pool, approver=auto_approve
    ) as s:
        py = s.kernels.get("python")
        assert isinstance(py, FakeKernel)
        py.enqueue(stdout, KernelResult("ok"))
        py.enqueue(stdout, KernelResult("ok"))
        events = list(s.run("Six times seven?"))
        assert s.messages[4].content == ECHO_NOTE.format(numbers="42")
    typed = "the answer's figure was typed into the code, not computed; asking for code"
    assert typed in [e.message for e in events if isinstance(e, Notice)]
    assert [e for e in events if isinstance(e, Grounding)][-1] == Grounding(("42",), ())


def test_a_guess_printed_every_time_is_flagged(settings: Settings, fake_pool: KernelPool) -> None:
    answer = "@total[460836225.30]"
    replies = [f"```python\nprint('{answer}')\n```", answer, "```python\nprint(460836225.30)\n```",
               answer, answer]  # fmt: skip
    stdout = (Output("stdout", "@total[460836225.30]\n"), KernelResult("ok"))
    printed = (Output("stdout", "460836225.3\n"), KernelResult("ok"))
    g = final_grounding(settings, fake_pool, replies, "Sum the sales.", stdout, printed)
    assert g == Grounding((), ("460836225.30",))


def test_the_numbers_code_types_are_those_it_only_shows() -> None:
    def typed(code: str) -> set[Decimal]:
        return {v for v in typed_numbers("python", code) if v >= 0}

    assert typed("print(460836225.3)") == {Decimal("460836225.3")}
    assert typed("print('@total[460836225.30]', 17, sep=' ')") == {Decimal("460836225.30"), 17}
    assert typed('total = 460836225.3\nprint(f"@total[{total}]")') == {Decimal("460836225.3")}
    assert typed("answer = 88\nanswer") == {88}  # a bare last line is displayed
    assert typed('print(f"{m:.2f} over 1,234 rows")') == {1234}  # a format is not a number
    assert typed("x = 2.5  # about 99\nprint(x * -4)") == set()  # computed with; no comment
    assert typed("n = 1000\nx = rng.normal(size=n)\nprint(n, x.mean())") == set()  # an input
    assert typed("print(round(x, 2), df.head(20))") == set()  # arguments of the computation
    assert typed("df['x'] = 5\nprint(df)") == set()  # data stored into an object
    assert typed("x = 5\nx = x + 1\nprint(x)") == set()
    assert typed("y = -3") == set()  # never shown
    assert typed('print({"total": 460836225.3, "count": 12})') == {Decimal("460836225.3"), 12}
    assert typed("g = 460836225.3\nprint(round(g, 1), '%.1f' % g, '{}'.format(g))") == {
        Decimal("460836225.3")
    }
    assert typed("import sys\nsys.stdout.write(str(5150))\npprint.pprint(5250)") == {5150, 5250}
    assert typed("balance = 1200\nbalance += deposit\nprint(balance)") == set()  # computed
    assert typed('"""Sales for 2024"""\nprint(df.x.sum())') == set()  # a docstring shows nothing
    assert typed('year = 2020\nprint(len(df.query(f"year == {year}")))') == set()
    assert not typed_numbers("shell", "echo 5050")  # only Python is read
    assert not typed_numbers("python", "echo 5050 (")  # nor what does not parse


def test_code_too_deep_or_too_long_to_read_is_left_alone() -> None:
    deep = "print(" + "+".join(["1"] * 6000) + ")"
    aliases = "a0 = 460836225.3\n" + "".join(f"a{i} = a{i - 1}\n" for i in range(1, 400))
    huge = "print(0x" + "f" * 4000 + ")"
    for code in (deep, aliases + "print(a399)", huge):
        shown = shown_outputs("python", code, [Output("stdout", "460836225.3\n")])
        assert shown.texts == ["460836225.3\n"]
        assert data_literals(code) == []


def test_a_printed_dict_of_figures_is_not_data() -> None:
    assert data_literals('print({"total": 460836225.3, "count": 12})') == []
    assert data_literals('df = pd.DataFrame({"total": [4.5, 6.1]})\ndf.plot()') == [
        Decimal("4.5"),
        Decimal("6.1"),
    ]


def test_each_typed_occurrence_blanks_one_printed_one() -> None:
    code = 'print("Expected 5050:", sum(range(1, 101)))'
    shown = shown_outputs("python", code, [Output("stdout", "Expected 5050: 5050\n")])
    assert shown.texts == ["Expected  : 5050\n"] and shown.computed
    rounded = shown_outputs(
        "python", 'print(f"{460836225.3:,.0f}")', [Output("stdout", "460,836,225")]
    )
    assert rounded.texts == [" "] and not rounded.computed  # typed, printed to fewer places


def test_an_output_keeps_only_the_numbers_its_code_computed() -> None:
    shown = shown_outputs(
        "python", "print(df.x.mean(), 460836225.3)", [Output("stdout", "23.5 460836225.3\n")]
    )
    assert shown.texts == ["23.5  \n"] and shown.echoed == {Decimal("460836225.3")}
    shown = shown_outputs(
        "python", "print([1, 2 * 10, 3], 1234)", [Output("stdout", "1,20,3 1,234")]
    )
    assert shown.texts == [" ,20,   "] and shown.echoed == {
        Decimal(1),
        Decimal(3),
        Decimal(1234),
    }  # 20 computed
    assert ground("It is 23.5.", Evidence(shown.texts)).unsupported == ("23.5",)
    computed = shown_outputs("python", "print(6 * 7)", [Output("stdout", "42\n")])
    assert computed.texts == ["42\n"] and not computed.echoed


def test_numbers_of_the_users_csv_back_an_answer_restating_them(
    settings: Settings, fake_pool: KernelPool
) -> None:
    (settings.workdir / "sales.csv").write_text("month,total\njan,1520\nfeb,1733\n")
    replies = ["January sold 1520, February 1733.", "January sold 1520, February 1733."]
    g = final_grounding(settings, fake_pool, replies, "What did sales.csv record per month?")
    assert g == Grounding(("1520", "1733"), ())


def test_a_typed_input_the_code_computes_with_backs_the_answer(
    settings: Settings, fake_pool: KernelPool
) -> None:
    code = "```python\nn = 1000\nx = np.random.randn(n)\nprint(n, x.mean())\n```"
    replies = [code, "With 1000 samples the mean is 0.0312."]
    stdout = (Output("stdout", "1000 0.0312\n"), KernelResult("ok"))
    g = final_grounding(settings, fake_pool, replies, "Mean of normal samples?", stdout)
    assert g == Grounding(("1000", "0.0312"), ())


def test_a_typed_figure_printed_beside_computed_ones_is_flagged_not_sent_back(
    settings: Settings, fake_pool: KernelPool
) -> None:
    code = "```python\nprint(df.price.mean(), 460836225.3)\n```"
    replies = [code, "The mean is 12.5 and the total 460836225.3."]
    stdout = (Output("stdout", "12.5 460836225.3\n"), KernelResult("ok"))
    g = final_grounding(settings, fake_pool, replies, "Mean and total price?", stdout)
    assert g == Grounding(("12.5",), ("460836225.3",))


@pytest.mark.parametrize(
    ("language", "code", "name"),
    [
        ("python", "x = 2\nanswer = x * 21", "answer"),
        ("python", "total += 5", "total"),
        ("python", "n: int = 3", "n"),
        ("python", "a, b = 1, 2", None),  # no one name to print
        ("python", "df['c'] = 1", None),
        ("python", "answer = 42\nprint(answer)", None),
        ("python", "answer = (", None),  # does not parse
        ("shell", "answer=42", None),
    ],
)
def test_the_name_a_silent_block_set_last(language: str, code: str, name: str | None) -> None:
    assert last_assigned(language, code) == name
