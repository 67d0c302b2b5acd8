"""loci in JupyterLab's chat: a Jupyter AI persona that runs ``loci acp``.

Jupyter AI finds the persona through the ``jupyter_ai.personas`` entry point; its ACP client
(``jupyter-ai-acp-client``, the ``jupyter`` extra) starts ``loci acp`` with the Python that
runs the Jupyter server, opens a session in the chat's folder, and shows loci's code blocks
as tool calls with Run / Always run / Don't run buttons. loci's settings come from where they
always do (``LOCI_HOME/config.toml``, ``LOCI_MODEL`` and the other environment variables).

Imported only by Jupyter AI: without the ACP client the persona says what to install, and
Jupyter AI leaves it out.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .errors import MissingExtraError

try:
    from jupyter_ai_persona_manager import PersonaDefaults, PersonaRequirementsUnmet
except ImportError as exc:  # not under Jupyter AI at all
    raise MissingExtraError("the Jupyter AI persona", "jupyter", "jupyter-ai") from exc
try:
    from jupyter_ai_acp_client.base_acp_persona import BaseAcpPersona
except ImportError as exc:  # Jupyter AI without its ACP client: skipped, with the reason
    raise PersonaRequirementsUnmet(
        "the loci persona needs jupyter-ai-acp-client: pip install 'loci[jupyter]'"
    ) from exc

AGENT = (sys.executable, "-m", "loci.cli.main", "acp")  # the loci of this environment
AVATAR = Path(__file__).parent / "data" / "loci.svg"


class LociPersona(BaseAcpPersona):  # type: ignore[misc]
    """loci as a chat persona: each chat is a loci conversation in the chat's folder."""

    agent_args: tuple[str, ...] = ()  # more ``loci acp`` options (a subclass may set them)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, executable=[*AGENT, *self.agent_args], **kwargs)

    @property
    def defaults(self) -> PersonaDefaults:
        return PersonaDefaults(
            name="loci",
            description=(
                "A local code interpreter: writes Python and shell code and runs it in "
                "persistent kernels on this machine, with your approval."
            ),
            avatar_path=str(AVATAR),
            system_prompt="unused: loci has its own",
        )
