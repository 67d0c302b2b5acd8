"""What a request brings before the model is called: the files it names and the know-how its
words call for.

``take`` finds the files the request names (``loci.files``), asks the kernels whether the
code may open them (a notice for each it may not), and makes the request as the model reads
it: the text with a look at those files, and the images among them (sent to a model that
sees). With recipes on, it picks those the request is about (``loci.recipes``).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import prompts, recipes
from .config import Settings
from .events import Notice
from .files import describe_files, mentioned_files
from .kernels.pool import KernelPool
from .messages import Message
from .models.images import attached_images


@dataclass(frozen=True)
class Intake:
    message: Message  # the request as the model reads it
    preview: str  # the look at the files it names ("" when none)
    notices: tuple[Notice, ...]  # files the code cannot open
    know_how: tuple[str, ...]  # the recipes chosen for it


def take(text: str, settings: Settings, kernels: KernelPool) -> Intake:
    named = mentioned_files(text, settings.workdir, also=settings.started_in)
    blocked = {p: why for p, why in kernels.reveal(named).items() if why}
    notices = tuple(
        Notice("warning", f"{path}: the code cannot open this file: {why}")
        for path, why in blocked.items()
    )
    preview = describe_files(named, blocked)
    shown = attached_images(named, list(blocked))
    message = Message("user", prompts.with_preview(text, preview), images=shown)
    know_how = tuple(r.text for r in recipes.choose(text)) if settings.recipes else ()
    return Intake(message, preview, notices, know_how)


__all__ = ["Intake", "take"]
