"""``loci acp``: serve loci to an editor over the Agent Client Protocol, on stdin/stdout.

Takes the model, run, sandbox and gateway options of ``loci``; each ACP session then works in
the folder the editor names. Thin: the agent lives in ``loci.acp`` (the ``acp`` extra), and
stdout belongs to the protocol, so the start-up notes go to stderr only.
"""

from __future__ import annotations

from typing import Any

import click

from ..config import load_settings
from .models_cmd import model_option
from .options import (
    gateway_options,
    model_options,
    run_options,
    sandbox_options,
    setting_option,
    settings_flags,
)


@click.command()
@model_option("The default model of new sessions: {forms}")
@click.option(
    "--offer",
    multiple=True,
    metavar="SPEC",
    help="Also offer this model in the editor's model menu (repeatable)",
)
@model_options
@setting_option("auto_run", help="Start sessions in auto-run mode (risky code still asks)")
@run_options
@sandbox_options
@gateway_options
def acp(offer: tuple[str, ...], **options: Any) -> None:
    """Serve loci to an editor (Zed, …) over the Agent Client Protocol on stdin/stdout."""
    from ..acp import serve  # MissingExtraError without the acp extra
    from ..models.registry import parse_spec
    from . import run

    settings = load_settings(settings_flags(options))
    for spec in (settings.model, *offer):
        parse_spec(spec, api_base=settings.api_base)  # an unknown spec fails now, not later
    run.announce_sandbox(settings.replace(started_in=None), as_json=False)
    run.announce_model(settings, as_json=False)
    if settings.python and not settings.kernel_gateway:
        run.ensure_ipykernel(settings.python, settings.auto_run, interactive=False)
    click.echo("loci: serving the Agent Client Protocol on stdin/stdout", err=True)
    serve(settings, offered=offer)
