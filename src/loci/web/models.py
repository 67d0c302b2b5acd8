"""The model list the web UI offers (``GET /api/models``), from the provider table.

The models themselves, one per conversation with embedded ones shared, come from
``loci.models.shared.DefaultModels``.
"""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..models.shared import DefaultModels as DefaultModels


def model_list(settings: Settings) -> dict[str, Any]:
    """The default spec, the specs to suggest (the default first), and each provider's forms,
    help and capabilities."""
    from ..models.registry import PROVIDERS

    suggested = [spec for p in PROVIDERS.values() for spec in p.suggestions()]
    providers = [
        {
            "prefix": p.prefix,
            "forms": list(p.forms),
            "help": p.help,
            "needs_name": p.needs_name,
            "native_tools": p.native_tools,
            "vision": p.vision,
            "shared": p.shared,
        }
        for p in PROVIDERS.values()
    ]
    return {
        "default": settings.model,
        "choices": list(dict.fromkeys([settings.model, *suggested])),
        "providers": providers,
    }


__all__ = ["DefaultModels", "model_list"]
