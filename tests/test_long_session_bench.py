"""benchmarks/long_session.py: how a later request's code treated a name made early."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from long_session import Step, requests, verdict


def _step(name: str, code: str, status: str = "ok", errors: list[str] | None = None) -> Step:
    return Step("use", name, "", [code] if code else [], errors or [], status)


def test_verdicts() -> None:
    assert verdict(_step("sales", "print(sales.price.mean())")) == "reused"
    assert verdict(_step("sales", "sales = pd.read_csv('sales.csv')\nprint(len(sales))")) == (
        "recreated"
    )
    assert verdict(_step("discount", "def discount(x):\n    return x\nprint(discount(2))")) == (
        "recreated"
    )
    assert verdict(_step("revenue", "sales['revenue'] = sales.price * 2")) == "recreated"
    missing = _step("sales", "print(sales.x)", "error", ["NameError: name 'sales' is not defined"])
    assert verdict(missing) == "invented"
    assert verdict(_step("trend", "print(coef[0])")) == "invented"  # another name
    assert verdict(_step("sales", "")) == "no_code"
    assert verdict(_step("n_rows", "print(n_rows == 3)")) == "reused"  # == is no assignment
    comment = "# Apply discount to 250\nprice = 250 * 0.9\nprint(price)"
    assert verdict(_step("discount", comment)) == "invented"  # named only in a comment


def test_every_use_comes_after_its_name_is_made() -> None:
    steps = requests(30)
    assert len(steps) >= 40
    made = {name for kind, name, _ in steps[:6] if kind == "make"}
    assert {name for kind, name, _ in steps if kind == "use"} <= made
