"""The kernels of one conversation: at most one per language, created when first needed.

    with KernelPool(workdir) as pool:
        pool.prestart("python")                 # warm up while the model is still answering
        kernel = pool.get(normalize_language("py"))
        ...
    # every kernel is shut down here (and by shutdown_all, which may be called again)

``normalize_language`` maps a code fence's tag to a kernel language, or ``None`` when loci
cannot run it. ``factory(language)`` builds a kernel; tests pass one returning FakeKernels.

With a ``gateway`` (``KernelPool.from_settings`` makes one from ``kernel_gateway``), kernels
run on a Jupyter Kernel Gateway instead (``gateway.GatewayKernel``): no local processes, no
local sandbox (confinement is the gateway's business).

``sandbox`` (``loci.sandbox.Sandbox``) confines every kernel the pool makes. When it really
confines and no ``python`` was chosen, the Python kernel runs in loci's kernel venv in
``LOCI_HOME`` (writable inside the sandbox, so package installs work) and both kernels find
that venv first on ``PATH``; a chosen ``python`` that is a venv has its folder made writable.
Its private ``/tmp`` is one host folder shared by the pool's kernels (``TempRoot``), so
``reveal`` can make a file the user names under the host's ``/tmp`` readable to them.
``look(kernel)`` after a Python block asks that kernel what it holds (``Kernel.state``) and
keeps the answer in ``state`` until the next look, a restart or ``shutdown_all``.
``redactor`` replaces the secret values loci withheld from the kernels (and its own keys)
in what the code prints.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import Settings
from ..errors import KernelError, LociError
from ..kernel_state import KernelState
from ..sandbox import Sandbox, ensure_venv, venv_dir
from ..sandbox.core import temp_dirs
from ..sandbox.mounts import TempRoot
from ..secret_env import Redactor, withhold
from .base import Kernel
from .jupyter import JupyterKernel
from .shell import ShellKernel

__all__ = ["LANGUAGES", "Gateway", "KernelFactory", "KernelPool", "normalize_language"]

KernelFactory = Callable[[str], Kernel]

_ALIASES = {
    "python": "python",
    "py": "python",
    "python3": "python",
    "ipython": "python",
    "": "python",
    "bash": "shell",
    "sh": "shell",
    "shell": "shell",
    "zsh": "shell",
    "console": "shell",
    "terminal": "shell",
}
LANGUAGES = ("python", "shell")


def normalize_language(tag: str | None) -> str | None:
    """The kernel language for a fence tag (``"py"`` → ``"python"``), ``None`` if unsupported."""
    words = (tag or "").strip().lower().split()
    return _ALIASES.get(words[0] if words else "")


@dataclass(frozen=True)
class Gateway:
    """Where remote kernels run: a Jupyter Kernel Gateway (or Enterprise Gateway)."""

    url: str
    token: str | None = None
    kernel: str | None = None  # kernelspec for Python; None = the gateway's default

    @classmethod
    def from_settings(cls, settings: Settings) -> Gateway | None:
        if not settings.kernel_gateway:
            return None
        return cls(settings.kernel_gateway, settings.gateway_token, settings.gateway_kernel)


class KernelPool:
    """Lazily created kernels, one per language; a context manager that shuts them down."""

    @classmethod
    def from_settings(cls, settings: Settings, *, owner: str | None = None) -> KernelPool:
        """The pool ``settings`` ask for: local kernels (sandboxed) or a gateway's. With an
        ``owner`` (a user of a multi-user server) the sandbox hides LOCI_HOME, the server's
        home and its secrets from the code, and packages install into that user's own venv."""
        gateway = Gateway.from_settings(settings)
        sandbox = None
        if gateway is None:
            sandbox = replace(Sandbox.from_settings(settings), private_home=owner is not None)
        pool = cls(settings.workdir, python=settings.python, sandbox=sandbox, gateway=gateway)
        if owner is not None:
            pool.venv_home = settings.home / "users" / owner
        withheld = withhold(os.environ, settings.pass_env)[1]
        pool.redactor = Redactor.from_values(
            {
                "api_key": settings.api_key,
                "anthropic_api_key": settings.anthropic_api_key,
                "gateway_token": settings.gateway_token,
                **withheld,  # the variable's own name, where a key came from one
            }
        )
        return pool

    def __init__(
        self,
        workdir: Path,
        python: str | None = None,
        env: dict[str, str] | None = None,
        factory: KernelFactory | None = None,
        sandbox: Sandbox | None = None,
        gateway: Gateway | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.gateway = gateway
        self.python = python
        self.env = dict(env) if env else None
        self.sandbox = sandbox
        self._factory = factory or self._default_factory
        self._kernels: dict[str, Kernel] = {}
        self._lock = threading.Lock()
        self._prepared = False
        self._specs: dict[str, str] | None = None  # the gateway's, by language
        self.venv_home: Path | None = None  # where the kernel venv lives; None: LOCI_HOME
        self.redactor = Redactor()  # secret values to take out of outputs
        self.state: KernelState | None = None  # the Python kernel's, after its last block

    @property
    def location(self) -> str:
        """Where this pool's code runs, for the audit's sandbox column: the sandbox's label,
        ``gateway:URL``, or ``off``; for the blocks it runs and those it refuses alike."""
        if self.sandbox is not None:
            return self.sandbox.label
        return f"gateway:{self.gateway.url.rstrip('/')}" if self.gateway else "off"

    def _prepare(self) -> None:
        """Once: the kernel venv and the writable folders, when the sandbox confines."""
        if self._prepared or self.sandbox is None or not self.sandbox.active:
            self._prepared = True
            return
        self._prepared = True
        if self.python is None:
            home = self.venv_home or self.sandbox.home
            try:
                self.python = str(ensure_venv(home))
            except OSError as exc:
                raise KernelError(f"cannot create the kernel venv in {home}: {exc}") from exc
            root = venv_dir(home)
        else:
            root = Path(self.python).absolute().parent.parent
            if not (root / "pyvenv.cfg").exists():
                return
        self.sandbox = self.sandbox.with_writable(root)
        path = os.environ.get("PATH", "")
        self.env = {**(self.env or {}), "PATH": f"{root / 'bin'}{os.pathsep}{path}"}
        self.env["VIRTUAL_ENV"] = str(root)

    def _temp_root(self) -> TempRoot | None:
        """The host folder behind the kernels' private /tmp (made when first needed)."""
        self._prepare()
        box = self.sandbox
        if box is None or not box.active:
            return None
        if box.temp_root is None:
            box = self.sandbox = replace(box, temp_root=TempRoot(temp_dirs()))
        return box.temp_root

    def reveal(self, paths: list[Path]) -> dict[Path, str]:
        """For each file the user named: "" when the code can open it (a file under the
        host's /tmp is made readable, read-only, at its own path), else why not."""
        found: dict[Path, str] = {}
        for path in paths:
            why = self.sandbox.hides(path) if self.sandbox is not None else ""
            if why == "temp":
                with self._lock:
                    root = self._temp_root()
                    why = root.reveal(Path(os.path.abspath(path))) if root else ""
            found[path] = why
        return found

    def _default_factory(self, language: str) -> Kernel:
        if self.gateway is not None:
            return self._gateway_kernel(language)
        self._temp_root()
        if language == "python":
            return JupyterKernel(
                self.workdir, python=self.python, env=self.env, sandbox=self.sandbox
            )
        return ShellKernel(self.workdir, env=self.env, sandbox=self.sandbox)

    def _gateway_kernel(self, language: str) -> Kernel:
        """A kernel on the gateway (called with the pool's lock held). The Python kernel
        makes the conversation's folder there (removed when it shuts down); the shell works
        in that same folder, with the gateway's bash kernelspec if it has one, else
        ``%%bash`` cells in a Python kernel."""
        from .gateway import GatewayKernel

        gw = self.gateway
        assert gw is not None
        env = dict(self.env or {})
        name = gw.kernel
        if language == "shell":
            python = self._kernels.get("python")
            if python is None:
                python = self._kernels["python"] = self._gateway_kernel("python")
            python.start()
            if python.remote_cwd:
                env["LOCI_REMOTE_CWD"] = python.remote_cwd
            name = self._gateway_specs().get("bash", gw.kernel)
        elif language != "python":
            name = self._gateway_specs()[language]
        return GatewayKernel(
            gw.url, self.workdir, token=gw.token, kernel_name=name, language=language, env=env
        )

    def _gateway_specs(self) -> dict[str, str]:
        """Each language the gateway has a kernel for -> its kernelspec, asked once
        (KernelError, not remembered, when the gateway cannot be asked)."""
        if self._specs is None:
            from .gateway import gateway_languages

            assert self.gateway is not None
            self._specs = gateway_languages(self.gateway.url, self.gateway.token)
        return self._specs

    def gateway_languages(self) -> dict[str, str]:
        """Languages the gateway has kernels for besides Python and bash (language ->
        kernelspec); empty without a gateway or when it cannot be asked."""
        if self.gateway is None:
            return {}
        try:
            specs = self._gateway_specs()
        except LociError:
            return {}
        return {lang: spec for lang, spec in specs.items() if lang not in ("python", "bash")}

    def language_of(self, tag: str | None) -> str | None:
        """The language a fence tag runs in here: python, shell, or a gateway's other
        kernel languages (``r``, ``julia``, ``scheme`` …); None when nothing can run it."""
        name = normalize_language(tag)
        if name is not None or not tag or self.gateway is None:
            return name
        word = tag.strip().lower().split()[0]
        return word if word in self.gateway_languages() else None

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown_all()

    def _kernel(self, language: str) -> Kernel:
        """The kernel for ``language`` (a fence tag or a language), created but not started."""
        name = self.language_of(language)
        if name is None:
            raise KernelError(f"loci cannot run {language!r} code (supported: python, shell)")
        with self._lock:
            kernel = self._kernels.get(name)
            if kernel is None:
                kernel = self._kernels[name] = self._factory(name)
            return kernel

    def get(self, language: str) -> Kernel:
        """The started kernel for ``language``; raises KernelError if it cannot start."""
        kernel = self._kernel(language)
        kernel.start()
        return kernel

    def prestart(self, language: str) -> threading.Thread:
        """Start the kernel for ``language`` in a background thread (errors wait for ``get``)."""
        kernel = self._kernel(language)

        def start() -> None:
            with contextlib.suppress(LociError):
                kernel.start()

        thread = threading.Thread(target=start, name=f"loci-start-{kernel.language}", daemon=True)
        thread.start()
        return thread

    def look(self, kernel: Kernel) -> KernelState | None:
        """After a block ran in ``kernel``: what the Python kernel holds now (kept in
        ``state``; None when it could not say in time). Other languages change nothing."""
        if kernel.language == "python":
            self.state = kernel.state()
        return self.state

    def started(self) -> list[str]:
        """The languages that have a kernel in this pool."""
        with self._lock:
            return list(self._kernels)

    def interrupt_all(self) -> None:
        with self._lock:
            kernels = list(self._kernels.values())
        for kernel in kernels:
            kernel.interrupt()

    def restart(self, language: str) -> None:
        """Restart the kernel for ``language`` if there is one (its state is lost)."""
        name = self.language_of(language)
        with self._lock:
            kernel = self._kernels.get(name) if name else None
        if kernel is not None:
            kernel.restart()
        if name == "python":
            self.state = None

    def shutdown_all(self) -> None:
        """Shut every kernel down. Idempotent; a later ``get`` creates fresh kernels."""
        with self._lock:
            kernels = list(self._kernels.values())
            self._kernels.clear()
            self.state = None
        for kernel in kernels:
            with contextlib.suppress(LociError, OSError):  # one failure must not leak the rest
                kernel.shutdown()
        with self._lock:
            box = self.sandbox
            if box is not None and box.temp_root is not None and not self._kernels:
                box.temp_root.remove()
                self.sandbox = replace(box, temp_root=None)
