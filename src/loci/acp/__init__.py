"""``loci acp``: loci as an Agent Client Protocol agent, for editors such as Zed.

Needs the ``acp`` extra (``pip install 'loci[acp]'``, the ``agent-client-protocol`` SDK);
nothing outside this package imports it. The modules, from the wire inwards:

    stdio.py      serve(settings): the protocol on stdin/stdout, every session closed at the end
    agent.py      the Agent: sessions ↔ conversations, modes, the model option, load, list
    turn.py       one prompt: Session.run in a worker thread, its events and approvals
                  bridged to the asyncio loop, cancel
    translate.py  pure: prompt content → text; events and stored records → session updates
    errors.py     LociError → ACP errors, once
"""

from __future__ import annotations

from ..models.base import import_extra

import_extra("acp", "loci acp", "acp", "agent-client-protocol")

from .agent import LociAgent as LociAgent  # noqa: E402
from .stdio import serve as serve  # noqa: E402

__all__ = ["LociAgent", "serve"]
