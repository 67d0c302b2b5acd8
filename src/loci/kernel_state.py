"""What the Python kernel holds after a block: names, types, and a compact shape for data.

``PROBE`` is the code loci sends to the kernel as one silent execution (no history, no
output shown, nothing stored as an execution); ``EXPRESSION`` is the ``user_expressions``
entry whose value carries the answer back, a JSON string. The probe never calls a user
object's ``__repr__``, ``__str__``, ``__len__`` or attributes: it reads ``type(value)`` and,
for classes it knows (pandas, numpy, torch, scikit-learn, files, builtins), attributes those
libraries define themselves. It looks at ``MAX_NAMES`` names, ``MAX_COLUMNS`` columns of a
DataFrame and stops at ``BUDGET`` seconds; what it skipped is counted in ``left_out``.

``parse`` turns that answer into a ``KernelState``; ``KernelState.summary`` is the short text
the model is given (and ``%vars`` prints), at most ``SUMMARY_CHARS`` characters, the names
that changed in the last block first; ``KernelState.to_json`` is the API's form.
"""

from __future__ import annotations

import ast
import json
from dataclasses import asdict, dataclass
from typing import Any

from .context import clip

__all__ = [
    "BUDGET",
    "EXPRESSION",
    "MAX_COLUMNS",
    "MAX_NAMES",
    "PROBE",
    "SUMMARY_CHARS",
    "KernelState",
    "Variable",
    "parse",
]

MAX_NAMES = 400  # names the probe describes; the rest are counted
MAX_COLUMNS = 30  # columns of a DataFrame it names
BUDGET = 0.2  # seconds the probe spends at most inside the kernel
SUMMARY_CHARS = 1500  # the summary the model reads, at most
_FIELD = 80  # characters of any one field kept from the kernel's answer

# Runs in the kernel's user namespace, skips what IPython and loci put there (as ``%who``
# does); leaves nothing there but ``_loci_sys`` (loci's own).
PROBE = r"""
import sys as _loci_sys
def _loci_probe(limit, ncols, budget):
    import json, os, time, types
    start = time.monotonic()
    qualname = type.__dict__["__qualname__"].__get__
    modname = type.__dict__["__module__"].__get__
    moddict = types.ModuleType.__dict__["__dict__"].__get__
    skip = {"In", "Out", "exit", "quit", "get_ipython", "McpError"}
    simple = (int, float, bool, complex, type(None))
    files = ("TextIOWrapper", "BufferedReader", "BufferedWriter", "BufferedRandom", "FileIO")

    def label(x):
        if type(x) is str:
            return x[:60]
        if type(x) in simple and not (type(x) is int and abs(x).bit_length() > 64):
            return repr(x)
        return "<" + qualname(type(x)) + ">"

    def dtype_name(dt):
        mod = modname(type(dt)) or ""
        if isinstance(mod, str) and mod.split(".")[0] in ("numpy", "pandas", "torch"):
            return str(dt)[:40]
        return qualname(type(dt))

    def shaped(d, kind, v):
        d["kind"], d["shape"], d["dtype"] = kind, [int(n) for n in v.shape], dtype_name(v.dtype)

    def describe(v, cls, mod, qn, d):
        top = mod.split(".")[0]
        np = _loci_sys.modules.get("numpy")
        if top == "pandas" and qn == "DataFrame":
            d["kind"], d["shape"] = "dataframe", [int(n) for n in v.shape]
            dts = v.dtypes.iloc[:ncols]
            d["columns"] = [[label(c), dtype_name(t)] for c, t in zip(v.columns[:ncols], dts)]
        elif top == "pandas" and qn in ("Series", "Index", "RangeIndex"):
            shaped(d, "series", v)
        elif np is not None and issubclass(cls, np.ndarray) and top == "numpy":
            shaped(d, "array", v)
        elif top == "torch" and qn in ("Tensor", "Parameter"):
            shaped(d, "array", v)
        elif top == "sklearn":
            own = object.__getattribute__(v, "__dict__") if hasattr(cls, "__dict__") else {}
            fitted = any(k.endswith("_") and not k.startswith("_") for k in own)
            d["kind"], d["detail"] = "model", "fitted" if fitted else "not fitted"
        elif issubclass(cls, types.ModuleType):
            name = moddict(v).get("__name__")
            d["kind"], d["detail"] = "module", name if type(name) is str else ""
        elif top in ("_io", "io") and qn in files:
            d["kind"] = "file"
            d["detail"] = "%s (%s)" % (label(v.name), "closed" if v.closed else v.mode)
        elif cls is types.FunctionType:
            code = v.__code__
            args = code.co_varnames[: code.co_argcount]
            d["kind"], d["detail"] = "function", "(" + ", ".join(args) + ")"
        elif issubclass(cls, type):
            d["kind"], d["detail"] = "class", qualname(v)
        elif cls in simple:
            d["kind"], d["detail"] = "value", label(v)
        elif cls in (str, bytes, list, tuple, dict, set, frozenset):
            d["kind"], d["detail"] = "value", "len %d" % len(v)
        else:
            d["kind"] = "object"

    ns = globals()
    getipython = getattr(_loci_sys.modules.get("IPython.core.getipython"), "get_ipython", None)
    hidden = getattr(getipython and getipython(), "user_ns_hidden", None) or {}  # as %who
    none = object()
    prev = getattr(_loci_sys, "_loci_state_seen", {})
    seen, out, left = {}, [], 0
    for name in list(ns):
        if type(name) is not str or name.startswith("_") or name in skip:
            continue
        v = ns[name]
        if hidden.get(name, none) is v:
            continue
        cls = type(v)
        mod, qn = modname(cls), qualname(cls)
        mod = mod if type(mod) is str else ""
        if qn.startswith("_loci") or (cls is type and qualname(v).startswith("_loci")):
            continue
        if len(out) >= limit or time.monotonic() - start > budget:
            left += 1
            continue
        d = {"name": name, "type": qn, "module": mod}
        try:
            describe(v, cls, mod, qn, d)
        except Exception:
            d["kind"] = "object"
        sig = (id(v), repr(d.get("shape")), d.get("dtype"), d.get("detail"))
        seen[name] = sig
        d["changed"] = prev.get(name) != sig
        out.append(d)
    _loci_sys._loci_state_seen = seen
    return json.dumps({"cwd": os.getcwd(), "names": out, "left_out": left})
_loci_sys._loci_probe = _loci_probe
del _loci_probe
"""
EXPRESSION = f"_loci_sys._loci_probe({MAX_NAMES}, {MAX_COLUMNS}, {BUDGET})"

# the order names are listed in, after those that changed: data first, then the rest
_KIND_ORDER = ("dataframe", "array", "series", "model", "file", "value", "object", "function")


@dataclass(frozen=True)
class Variable:
    """One name in the kernel: its type and, for data, its shape."""

    name: str
    type: str  # the class's qualified name: DataFrame, ndarray, LinearRegression, int
    module: str = ""  # the class's module: pandas.core.frame
    kind: str = "object"  # dataframe series array model module file function class value object
    shape: tuple[int, ...] = ()
    dtype: str = ""
    columns: tuple[tuple[str, str], ...] = ()  # (label, dtype), the first MAX_COLUMNS
    detail: str = ""  # a small value, a length, a module's name, a file and its mode
    changed: bool = False  # new or different since the last look

    def describe(self) -> str:
        """``df: DataFrame 891×12 (PassengerId:int64, …)``; ``model: LinearRegression``."""
        text = f"{self.name}: {self.type}"
        if self.shape:
            text += " " + "×".join(str(n) for n in self.shape)
        if self.dtype:
            text += f" {self.dtype}"
        if self.columns:
            shown = ", ".join(f"{c}:{t}" for c, t in self.columns)
            more = len(self.shape) > 1 and self.shape[1] > len(self.columns)
            text += f" ({shown}{', …' if more else ''})"
        if self.kind == "class":
            return f"{self.name}: class"
        if self.detail and self.kind != "module":
            value = self.kind == "value" and not self.detail.startswith("len ")
            text += (" = " if value else " ") + self.detail
        return text


@dataclass(frozen=True)
class KernelState:
    """What one look at the Python kernel found."""

    variables: tuple[Variable, ...] = ()
    cwd: str = ""
    left_out: int = 0  # names the probe did not describe (too many, or out of time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def ordered(self) -> list[Variable]:
        """Changed names first, data before the rest in each, the newest first."""
        rank = {kind: i for i, kind in enumerate(_KIND_ORDER)}
        newest = reversed(self.variables)
        return sorted(newest, key=lambda v: (not v.changed, rank.get(v.kind, len(rank))))

    def listing(self) -> dict[str, Any]:
        """What a person's panel shows: each name described (most relevant first, ``changed``
        marks the new and different), the imports, the folder."""
        names = [v for v in self.ordered() if v.kind != "module"]
        return {
            "names": [{"text": v.describe(), "changed": v.changed} for v in names],
            "imports": [_import(v) for v in self.variables if v.kind == "module"],
            "cwd": self.cwd,
            "left_out": self.left_out,
        }

    def summary(self, cap: int = SUMMARY_CHARS) -> str:
        """One short paragraph for the model: names (most relevant first), imports, folder;
        never longer than ``cap`` characters, saying how many names were left out."""
        head = "The Python session holds: "
        imports = [v for v in self.variables if v.kind == "module"]
        names = [v for v in self.ordered() if v.kind != "module"]
        tail = f"\nWorking directory: {self.cwd}" if self.cwd else ""
        if imports:
            shown = ", ".join(_import(v) for v in imports[:20])
            more = f" and {len(imports) - 20} more" if len(imports) > 20 else ""
            tail = f"\nImported: {shown}{more}." + tail
        parts: list[str] = []
        used = len(head) + len(tail)
        for i, var in enumerate(names):
            text = clip(var.describe(), 300)
            left = len(names) - i - 1 + self.left_out
            note = f"; … and {left} more names" if left else ""
            if used + len(text) + 2 + len(note) > cap and parts:
                missing = len(names) - i + self.left_out
                parts.append(f"… and {missing} more names")
                break
            parts.append(text)
            used += len(text) + 2
        else:
            if self.left_out:
                parts.append(f"… and {self.left_out} more names")
        body = "; ".join(parts) if parts else "no names yet"
        return clip(head + body + "." + tail, cap)


def _import(var: Variable) -> str:
    return var.name if var.detail in ("", var.name) else f"{var.detail} as {var.name}"


def parse(raw: object) -> KernelState | None:
    """The state from a ``user_expressions`` entry (``{"status": "ok", "data":
    {"text/plain": "'<json>'"}}``) or from the JSON text itself; None if it is not one."""
    if isinstance(raw, dict):
        if raw.get("status") != "ok":
            return None
        raw = raw.get("data", {}).get("text/plain", "")
        try:
            raw = ast.literal_eval(raw) if isinstance(raw, str) else None
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    if not isinstance(raw, str):
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("names"), list):
        return None
    variables = tuple(v for v in map(_variable, data["names"]) if v is not None)
    left = data.get("left_out")
    return KernelState(variables, _text(data.get("cwd"), 500), left if isinstance(left, int) else 0)


def _variable(item: object) -> Variable | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    shape = item.get("shape") or []
    columns = item.get("columns") or []
    return Variable(
        name=_text(item["name"]),
        type=_text(item.get("type")) or "object",
        module=_text(item.get("module")),
        kind=_text(item.get("kind")) or "object",
        shape=tuple(n for n in shape if isinstance(n, int))[:8] if isinstance(shape, list) else (),
        dtype=_text(item.get("dtype")),
        columns=tuple(
            (_text(c[0]), _text(c[1]))
            for c in columns[:MAX_COLUMNS]
            if isinstance(c, list) and len(c) == 2
        )
        if isinstance(columns, list)
        else (),
        detail=_text(item.get("detail")),
        changed=item.get("changed") is True,
    )


def _text(value: object, cap: int = _FIELD) -> str:
    return value[:cap] if isinstance(value, str) else ""
