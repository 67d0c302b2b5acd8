"""Images for models that can see: which ones go, how big, and what they cost.

A ``Message`` names images by the paths loci saved them at (``Message.images``): the plots a
run drew (``execution.save_image``) and the image files a request names. Models that cannot
see never look at them; their text already names each path. For a model that can,
``select_images`` picks what one request shows, newest first: at most ``PER_MESSAGE`` of a
message's images and ``PER_REQUEST`` in all, each at most ``MAX_BYTES`` (downscaled with
Pillow when it is installed; skipped, and said so in the text, when it is not). The adapters
put the chosen ones on the wire in their API's form.

Token costs follow the providers' documented approximations: OpenAI's tile formula (fit in
2048×2048, shortest side at most 768, 170 tokens per 512-pixel tile plus 85) and Anthropic's
width × height / 750 (after fitting the longest side in 1568). An image whose size cannot be
read (a JPEG without Pillow) is counted as ``UNKNOWN_TOKENS``.
"""

from __future__ import annotations

import base64
import importlib
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..events import Output
from ..messages import Message

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}  # what both APIs accept (not SVG)
PER_MESSAGE = 2  # images of one result or request shown to the model
PER_REQUEST = 4  # images shown in one model call, the newest
MAX_BYTES = 1_000_000  # an image's bytes as sent (both APIs take more; prompts stay small)
MAX_SIDE = 1568  # downscaled images fit this (Anthropic's advice; OpenAI resizes to 2048)
SHRINK_SIDES = (MAX_SIDE, 1024, 768, 512)  # tried in turn until the PNG fits MAX_BYTES
UNKNOWN_TOKENS = 1000  # an image whose size is unknown
OPENAI_TILE, OPENAI_TILE_TOKENS, OPENAI_BASE_TOKENS = 512, 170, 85
OPENAI_FIT, OPENAI_SHORT = 2048, 768
ANTHROPIC_PIXELS_PER_TOKEN = 750

Size = tuple[int, int]


def image_mime(path: str | Path) -> str | None:
    """The MIME type of an image file a model may be shown, from its name; None if not one."""
    return IMAGE_TYPES.get(Path(path).suffix.lower())


def output_images(outputs: Sequence[Output]) -> tuple[str, ...]:
    """The saved paths of the images a run showed, in order (SVG and unsaved ones left out)."""
    return tuple(o.path for o in outputs if o.path and o.mime == image_mime(o.path))


def attached_images(named: Sequence[Path], blocked: Sequence[Path] = ()) -> tuple[str, ...]:
    """The image files among those a request names (none the sandbox hides)."""
    return tuple(str(p) for p in named if image_mime(p) and p not in blocked)


@dataclass(frozen=True)
class ImagePart:
    """An image ready for the wire: base64 data and its MIME type."""

    path: str
    mime: str
    data: str

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.data}"


def _pillow() -> Any:
    """``PIL.Image``, or None when Pillow is not installed."""
    try:
        return importlib.import_module("PIL.Image")
    except ImportError:
        return None


def _shrink(raw: bytes, max_bytes: int) -> bytes | None:
    """``raw`` downscaled to a PNG under ``max_bytes``; None without Pillow or if it won't go."""
    pil = _pillow()
    if pil is None:
        return None
    try:
        with pil.open(io.BytesIO(raw)) as img:
            img.load()
            for side in SHRINK_SIDES:
                small = img.convert("RGBA") if img.mode not in ("RGB", "RGBA", "L") else img.copy()
                small.thumbnail((side, side))
                buf = io.BytesIO()
                small.save(buf, format="PNG", optimize=True)
                if buf.tell() <= max_bytes:
                    return buf.getvalue()
    except (OSError, ValueError):
        return None
    return None


def load_image(path: str, max_bytes: int = MAX_BYTES) -> ImagePart | str:
    """The image at ``path`` ready to send, or why it cannot be."""
    mime = image_mime(path)
    if mime is None:
        return "not an image type the model accepts"
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return "the file cannot be read"
    if len(raw) > max_bytes:
        small = _shrink(raw, max_bytes)
        if small is None:
            how = "" if _pillow() is not None else "; install Pillow to downscale it"
            return f"{len(raw)} bytes is over the {max_bytes}-byte limit{how}"
        raw, mime = small, "image/png"
    return ImagePart(path, mime, base64.b64encode(raw).decode("ascii"))


def select_images(
    messages: Sequence[Message],
    *,
    per_message: int = PER_MESSAGE,
    per_request: int = PER_REQUEST,
    max_bytes: int = MAX_BYTES,
) -> tuple[list[Message], dict[str, ImagePart]]:
    """What one model call shows: the messages with ``images`` cut to those sent (and a note
    in the text for those left out of a message that shows some, or skipped for their size),
    and the loaded images by path."""
    out = list(messages)
    parts: dict[str, ImagePart] = {}
    left = per_request
    for n in range(len(out) - 1, -1, -1):
        m = out[n]
        if not m.images:
            continue
        shown: list[str] = []
        notes: list[str] = []
        unshown: list[str] = []
        for path in m.images:
            if len(shown) >= min(per_message, left):
                unshown.append(path)
                continue
            part = load_image(path, max_bytes)
            if isinstance(part, str):
                notes.append(f"[image {path} not shown to the model: {part}]")
                continue
            shown.append(path)
            parts[path] = part
        left -= len(shown)
        if unshown and shown:
            notes.append(
                f"[not shown to the model (at most {per_message} images per message, "
                f"{per_request} per request): {', '.join(unshown)}]"
            )
        content = "\n".join([m.content, *notes]) if notes else m.content
        out[n] = replace(m, content=content, images=tuple(shown))
    return out, parts


# --- sizes and tokens ---------------------------------------------------------------------


def image_size(path: str) -> Size | None:
    """Width and height, from a PNG or GIF header, or through Pillow; None if unknown."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError:
        return None
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
    pil = _pillow()
    if pil is None:
        return None
    try:
        with pil.open(path) as img:
            width, height = img.size
            return int(width), int(height)
    except (OSError, ValueError):
        return None


def _fit(size: Size, side: float) -> tuple[float, float]:
    width, height = size
    scale = min(1.0, side / max(width, height))
    return width * scale, height * scale


def openai_image_tokens(size: Size) -> int:
    """OpenAI's tile formula for a high-detail image (GPT-4o, GPT-4.1 and the like)."""
    width, height = _fit(size, OPENAI_FIT)
    short = min(width, height)
    if short > OPENAI_SHORT:
        width, height = width * OPENAI_SHORT / short, height * OPENAI_SHORT / short
    tiles = math.ceil(width / OPENAI_TILE) * math.ceil(height / OPENAI_TILE)
    return OPENAI_BASE_TOKENS + OPENAI_TILE_TOKENS * tiles


def anthropic_image_tokens(size: Size) -> int:
    """Anthropic's approximation: width × height / 750, after fitting the longest side."""
    width, height = _fit(size, MAX_SIDE)
    return max(1, math.ceil(width * height / ANTHROPIC_PIXELS_PER_TOKEN))


def image_tokens(path: str, formula: Callable[[Size], int]) -> int:
    """What showing the image at ``path`` costs, by ``formula``."""
    size = image_size(path)
    if size is None or min(size) <= 0:
        return UNKNOWN_TOKENS
    return formula(size)
