"""The error tree: every error carries its exit code and HTTP status, and the web layer's
errors live in it too (importable from where they are raised, as before)."""

from __future__ import annotations

import pytest

from loci import errors
from loci.errors import LociError

STATUSES = {
    "LociError": (1, 500),
    "ConfigError": (2, 500),
    "ModelError": (3, 400),
    "MissingExtraError": (3, 400),
    "KernelError": (4, 500),
    "StoreError": (5, 500),
    "NotFoundError": (5, 404),
    "ModelInstallError": (6, 500),
    "PathRefused": (1, 403),
    "ApprovalError": (1, 409),
    "TurnRunningError": (1, 409),
    "KernelLimitError": (1, 429),
}


def test_every_error_has_its_exit_code_and_http_status() -> None:
    tree = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, LociError)]
    for kind in tree:
        assert isinstance(kind.exit_code, int) and isinstance(kind.http_status, int)
        assert kind.__name__ in errors.__doc__, f"{kind.__name__} is not drawn in the tree"
    for name, codes in STATUSES.items():
        kind = getattr(errors, name)
        assert (kind.exit_code, kind.http_status) == codes, name


def test_an_api_error_carries_the_status_it_is_given() -> None:
    exc = errors.ApiError(415, "send JSON")
    assert (exc.http_status, exc.message, errors.ApiError.http_status) == (415, "send JSON", 500)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("loci.web.api", "ApiError"),
        ("loci.web.files", "PathRefused"),
        ("loci.web.live", "ApprovalError"),
        ("loci.web.live", "TurnRunningError"),
        ("loci.web.live", "KernelLimitError"),
    ],
)
def test_the_web_errors_are_still_where_they_are_raised(module: str, name: str) -> None:
    pytest.importorskip("starlette")
    import importlib

    assert getattr(importlib.import_module(module), name) is getattr(errors, name)
