"""What loci proposes to install when an import fails, and the table behind it."""

from __future__ import annotations

import re

import pytest

from loci.approval import Decision, auto_approve
from loci.coaching import (
    FAILED_REPEAT_NOTE,
    SILENT_REPEAT_NOTE,
    distribution,
    distributions,
    missing_module,
    pip_install,
)
from loci.config import Settings
from loci.events import CodeBlock, ExecutionDone, KernelResult, Output
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.models.scripted import ScriptedModel
from loci.session import Session

# PEP 508 project names
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize(
    ("module", "package"),
    [
        # data science
        ("sklearn", "scikit-learn"), ("skimage", "scikit-image"), ("cv2", "opencv-python"),
        ("PIL", "pillow"), ("Bio", "biopython"), ("umap", "umap-learn"),
        # office and documents
        ("pptx", "python-pptx"), ("docx", "python-docx"), ("fitz", "pymupdf"),
        ("pdfminer", "pdfminer.six"), ("odf", "odfpy"),
        # web and data formats
        ("bs4", "beautifulsoup4"), ("yaml", "pyyaml"), ("dateutil", "python-dateutil"),
        ("dotenv", "python-dotenv"), ("jwt", "pyjwt"), ("Crypto", "pycryptodome"),
        ("zmq", "pyzmq"), ("git", "gitpython"), ("MySQLdb", "mysqlclient"),
        ("serial", "pyserial"),
        # the same name on both sides
        ("pandas", "pandas"), ("numpy", "numpy"), ("requests", "requests"),
        ("openpyxl", "openpyxl"), ("sympy", "sympy"), ("feedparser", "feedparser"),
    ],
)  # fmt: skip
def test_common_packages_by_their_real_names(module: str, package: str) -> None:
    assert distribution(module) == package


def test_every_entry_is_an_import_name_and_a_distinct_project_name() -> None:
    table = distributions()
    assert len(table) > 50
    for module, package in table.items():
        assert module.isidentifier(), module
        assert _NAME.match(package), package
        assert _normal(module) != _normal(package), f"{module}: pip finds it without an entry"


def test_the_install_line_is_quoted_for_the_shell() -> None:
    package, line = pip_install("/opt/my env/bin/python", "pptx")
    assert package == "python-pptx"
    assert line == "'/opt/my env/bin/python' -m pip install python-pptx"


def test_only_a_missing_module_is_offered() -> None:
    missing = ExecutionDone(1, "error", 0.1, error_name="ModuleNotFoundError",
                            error_value="No module named 'pptx'")  # fmt: skip
    assert missing_module(missing) == "pptx"
    other = ExecutionDone(1, "error", 0.1, error_name="ImportError",
                          error_value="cannot import name 'x' from 'pptx'")  # fmt: skip
    assert missing_module(other) is None


def test_a_failed_import_of_pptx_proposes_python_pptx(
    settings: Settings, fake_pool: KernelPool
) -> None:
    asked: list[CodeBlock] = []

    def approve(block: CodeBlock) -> Decision:
        asked.append(block)
        return Decision(True, "user")

    model = ScriptedModel(["```python\nimport pptx\n```", "done"])
    with Session(settings, model=model, kernels=fake_pool, approver=approve) as s:
        py = s.kernels.get("python")
        assert isinstance(py, FakeKernel)
        error = "No module named 'pptx'"
        py.enqueue(KernelResult("error", error_name="ModuleNotFoundError", error_value=error))
        py.enqueue(Output("stdout", "ok\n"), KernelResult("ok"))
        list(s.run("make slides"))
    assert asked[1].language == "shell" and asked[1].code.endswith(" -m pip install python-pptx")


ERROR = "name 'sqrt' is not defined"


@pytest.mark.parametrize(
    ("first", "told", "again"),
    [
        (
            KernelResult("error", error_name="NameError", error_value=ERROR),
            "(no output: nothing was printed)\n[error: NameError]",
            FAILED_REPEAT_NOTE.format(error=f"NameError: {ERROR}"),
        ),
        # small models end with `answer = …` and wait for a value that never comes
        (
            KernelResult("ok"),
            "(no output: nothing was printed; answer is set: print(answer))",
            SILENT_REPEAT_NOTE,
        ),
    ],
)
def test_code_sent_again_is_told_how_it_ended(
    settings: Settings, fake_pool: KernelPool, first: KernelResult, told: str, again: str
) -> None:
    # Small models "fix" a block that failed, or printed nothing, by sending it again.
    code = "```python\nanswer = sqrt(2)\n```"
    fixed = "```python\nimport math\nprint(math.sqrt(2))\n```"
    model = ScriptedModel([code, code, fixed, "1.41"])
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        py = s.kernels.get("python")
        assert isinstance(py, FakeKernel)
        py.enqueue(first)
        py.enqueue(Output("stdout", "1.4142135623730951\n"), KernelResult("ok"))
        done = list(s.run("square root of 2?"))[-1]
        notes = [m.content for m in s.messages if m.role == "tool"]
    assert done.type == "turn_done" and done.status == "done"
    assert notes[:2] == [told, again]
    assert py.executed == ["answer = sqrt(2)", "import math\nprint(math.sqrt(2))"]


def test_a_summary_that_repeats_the_requests_figures_is_not_sent_back_for_code() -> None:
    from loci.coaching import VERIFY_NOTE, unbacked_note
    from loci.grounding import ground
    from loci.turn import Turn

    abstract = "Summarise: our method cuts memory by 37.5% and is 2.4x faster on 12 tasks."
    summary = "The method uses 37.5% less memory and runs 2.4x faster on 12 tasks."
    assert unbacked_note(Turn(abstract), summary, ground(summary, [], abstract)) is None
    apples = "Split 12 apples among 3 people. How many each?"
    assert unbacked_note(Turn(apples), "4 each.", ground("4 each.", [], apples)) == VERIFY_NOTE
