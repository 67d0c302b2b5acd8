"""The wire to a Jupyter Kernel Gateway: REST calls, the channels WebSocket, the messages on it.

``Rest`` makes the REST calls (``Authorization: token …`` with each) and ``_Socket`` holds a
kernel's ``/api/kernels/{id}/channels`` WebSocket (JSON messages with a ``channel`` field).
``RemoteKernel`` is the kernel a ``GatewayKernel`` holds: its id, its socket and the
jupyter_client ``Session`` that builds its messages; it creates, restarts, interrupts and deletes
the kernel over REST, sends shell requests and waits for their replies.
``gateway_kernelspecs`` (name → language) and ``gateway_languages`` (language → name) list what
a gateway can start. Deciding what to do when something fails is ``gateway.GatewayKernel``'s.
The names ``gateway`` uses are public; the rest stay private here.

Third-party failures (httpx, websockets) are translated here, once, into one-line errors:

    no gateway, no answer       KernelError naming the URL
    wrong or missing token      Refused (HTTP 401 / 403), naming the token settings
    socket closed / not opened  Lost
    the kernel died meanwhile   Died (the gateway's iopub status "restarting" / "dead")

The WebSocket client is the optional ``gateway`` extra (``websockets``), imported when a socket
opens: without it, a KernelError says how to install it.

The code loci runs in the kernel for itself, and the files it moves, are ``gateway_files``'.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from ..errors import KernelError

if TYPE_CHECKING:
    from jupyter_client.session import Session
    from websockets.sync.client import ClientConnection

__all__ = [
    "Died",
    "Lost",
    "Refused",
    "RemoteKernel",
    "Rest",
    "gateway_kernelspecs",
    "gateway_languages",
    "is_death",
    "parent_id",
    "shell_exit",
]

_HTTP_TIMEOUT = 10.0  # seconds for a REST call (start and restart get ``start_timeout``)
_DELETE_TIMEOUT = 5.0  # seconds for the REST call that deletes a kernel being released
_RETRY = 0.5  # seconds between tries to reach a gateway that does not answer
_WAIT = 1.0  # seconds per wait for a message while waiting for a reply
_MISSING = "remote kernels need the gateway extra: pip install 'loci[gateway]'"


class Lost(KernelError):
    """The channels socket closed (or could not open)."""


class Refused(KernelError):
    """The gateway refused the token."""


class Died(KernelError):
    """The gateway said the kernel died while loci waited for a reply."""


def _refused(url: str, code: int) -> Refused:
    return Refused(
        f"the Jupyter gateway at {url} refused loci (HTTP {code}): its token is wrong or "
        "missing; set LOCI_GATEWAY_TOKEN or --gateway-token"
    )


def is_death(msg: dict[str, Any]) -> bool:
    """The gateway's own status message: the kernel process died (and is being restarted)."""
    state = (msg.get("content") or {}).get("execution_state")
    return msg.get("msg_type") == "status" and state in ("restarting", "dead")


def parent_id(msg: dict[str, Any]) -> Any:
    return (msg.get("parent_header") or {}).get("msg_id")


def _reason(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        body = None
    detail = body.get("message") or body.get("reason") if isinstance(body, dict) else None
    return f"HTTP {resp.status_code}" + (f": {detail}" if detail else "")


def shell_exit(error: dict[str, Any]) -> int | None:
    """The exit status of a failed shell command (a ``%%bash`` cell's CalledProcessError, or
    bash_kernel's nameless error); None for any other error."""
    value = str(error.get("evalue", ""))
    if not error.get("ename") and value.isdigit():
        return int(value)
    found = re.search(r"exit status (\d+)|Signals\.\w+: (\d+)", value)
    if error.get("ename") != "CalledProcessError" or found is None:
        return None
    return int(found[1]) if found[1] else -int(found[2])


class Rest:
    """The gateway's REST API; every failure becomes a one-line KernelError."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"token {token}"} if token else {}

    def call(
        self, method: str, path: str, body: Any = None, timeout: float = _HTTP_TIMEOUT
    ) -> httpx.Response:
        try:
            resp = httpx.request(
                method, self.url + path, json=body, headers=self.headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise KernelError(f"cannot reach the Jupyter gateway at {self.url}: {reason}") from exc
        if resp.status_code in (401, 403):
            raise _refused(self.url, resp.status_code)
        return resp


def _kernelspecs(rest: Rest) -> tuple[str, dict[str, str]]:
    """The gateway's default kernelspec and each spec's language, lowercased (name → language)."""
    resp = rest.call("GET", "/api/kernelspecs")
    try:
        body = resp.json() if resp.status_code == 200 else {}
        specs, default = body["kernelspecs"], str(body.get("default") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        specs, default = None, ""
    if not isinstance(specs, dict):
        raise KernelError(
            f"{rest.url} does not look like a Jupyter Kernel Gateway: "
            f"GET /api/kernelspecs answered {_reason(resp)}"
        )
    languages = {
        str(name): str(((spec or {}).get("spec") or {}).get("language", "")).lower()
        for name, spec in specs.items()
    }
    return default, languages


def gateway_kernelspecs(url: str, token: str | None = None) -> dict[str, str]:
    """The gateway's kernelspecs: name → language, lowercased (``GET /api/kernelspecs``)."""
    return _kernelspecs(Rest(url, token))[1]


def gateway_languages(url: str, token: str | None = None) -> dict[str, str]:
    """The languages the gateway has kernels for (lowercased) → the kernelspec that runs each:
    the gateway's default spec for its language, else the first one listed."""
    default, specs = _kernelspecs(Rest(url, token))
    found: dict[str, str] = {}
    for name, language in specs.items():
        if language and (language not in found or name == default):
            found[language] = name
    return found


class _Socket:
    """The kernel's channels WebSocket: JSON messages in and out."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        try:  # the optional ``gateway`` extra
            from websockets.exceptions import InvalidStatus, WebSocketException
            from websockets.sync.client import connect
        except ImportError as exc:
            raise KernelError(_MISSING) from exc
        self._errors: tuple[type[Exception], ...] = (OSError, WebSocketException)
        self._stack = contextlib.ExitStack()
        gateway = url.split("/api/kernels/")[0].replace("ws", "http", 1)
        try:
            self._ws: ClientConnection = self._stack.enter_context(
                connect(url, additional_headers=headers, open_timeout=timeout, max_size=None)
            )
        except InvalidStatus as exc:
            code = exc.response.status_code
            if code in (401, 403):
                raise _refused(gateway, code) from exc
            raise Lost(
                f"the Jupyter gateway at {gateway} refused the channels (HTTP {code})"
            ) from exc
        except TimeoutError as exc:
            raise Lost(
                f"the kernel on the Jupyter gateway at {gateway} did not answer within "
                f"{timeout:g}s (see the gateway's log)"
            ) from exc
        except (OSError, WebSocketException) as exc:
            raise Lost(f"cannot connect to the kernel at {url}: {exc}") from exc

    def send(self, msg: dict[str, Any]) -> None:
        from jupyter_client.jsonutil import json_default

        try:
            self._ws.send(json.dumps(msg, default=json_default))
        except self._errors as exc:
            raise Lost("the connection to the Jupyter gateway was lost") from exc

    def recv(self, timeout: float) -> dict[str, Any] | None:
        """The next message; None if none came within ``timeout`` seconds."""
        try:
            msg = json.loads(self._ws.recv(timeout=timeout))
        except TimeoutError:
            return None
        except self._errors as exc:
            raise Lost("the connection to the Jupyter gateway was lost") from exc
        except ValueError:
            return None
        return msg if isinstance(msg, dict) else None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stack.close()


class RemoteKernel:
    """The kernel a GatewayKernel holds and its channels; ``release`` deletes the kernel (a
    finalizer calls it too)."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest
        self.kernel_id: str | None = None
        self.socket: _Socket | None = None
        self.session: Session | None = None

    def _id(self) -> str:
        """The kernel's id; Lost once it was released (shut down while a block ran)."""
        if self.kernel_id is None:
            raise Lost("the kernel on the Jupyter gateway was shut down")
        return self.kernel_id

    def connect(self, timeout: float) -> None:
        """Open the kernel's channels socket (any previous one is closed)."""
        from jupyter_client.session import Session

        self.close_socket()
        kernel_id = self._id()
        url = self.rest.url
        url = ("ws" + url[4:] if url.startswith("http") else url) + (
            f"/api/kernels/{quote(kernel_id)}/channels"
        )
        self.session = Session(username="loci")
        self.socket = _Socket(url, self.rest.headers, timeout)

    def create(self, env: dict[str, str], name: str | None, timeout: float) -> None:
        """Ask the gateway for a new kernel (``kernel_id``); KernelError if it cannot."""
        body: dict[str, Any] = {"env": dict(env)}
        if name:
            body["name"] = name
        resp = self.rest.call("POST", "/api/kernels", body, timeout=timeout)
        try:
            kernel_id = resp.json()["id"] if resp.status_code in (200, 201) else None
        except (ValueError, KeyError, TypeError):
            kernel_id = None
        if not isinstance(kernel_id, str):
            spec = f" {name!r}" if name else ""
            raise KernelError(
                f"the Jupyter gateway at {self.rest.url} could not start a{spec} kernel: "
                f"{_reason(resp)}"
            )
        self.kernel_id = kernel_id

    def language(self, name: str | None) -> str:
        """The language of kernelspec ``name`` (None: the gateway's default), lowercased; ""
        when the gateway cannot say (creating the kernel will tell what is wrong)."""
        try:
            default, specs = _kernelspecs(self.rest)
        except KernelError:
            return ""
        return specs.get(name or default, "")

    def restart(self, timeout: float) -> bool:
        """REST restart; False if the gateway no longer knows the kernel."""
        path = f"/api/kernels/{quote(self._id())}/restart"
        resp = self.rest.call("POST", path, timeout=timeout)
        if resp.status_code == 404:
            return False
        if resp.status_code >= 300:
            raise KernelError(
                f"the Jupyter gateway at {self.rest.url} could not restart the kernel: "
                f"{_reason(resp)}"
            )
        return True

    def interrupt(self) -> None:
        """REST interrupt, if there is a kernel; failures are ignored."""
        kernel_id = self.kernel_id
        if kernel_id is not None:
            with contextlib.suppress(KernelError):
                self.rest.call("POST", f"/api/kernels/{quote(kernel_id)}/interrupt")

    def exists(self, wait: float = 0.0) -> bool:
        """Whether the gateway still has the kernel; KernelError if it does not answer within
        ``wait`` seconds (a restarting gateway takes a moment)."""
        path = f"/api/kernels/{quote(self._id())}"
        deadline = time.monotonic() + wait
        while True:
            try:
                resp = self.rest.call("GET", path)
                return resp.status_code != 404
            except Refused:
                raise
            except KernelError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(_RETRY)

    def close_socket(self) -> None:
        socket, self.socket = self.socket, None
        if socket is not None:
            socket.close()

    def release(self) -> None:
        self.close_socket()
        kernel_id, self.kernel_id = self.kernel_id, None
        if kernel_id is not None:
            path = f"/api/kernels/{quote(kernel_id)}"
            with contextlib.suppress(KernelError):
                self.rest.call("DELETE", path, timeout=_DELETE_TIMEOUT)

    def send(self, msg_type: str, content: dict[str, Any]) -> str:
        """Send a shell request; its msg_id."""
        if self.socket is None or self.session is None:
            raise Lost("not connected to the Jupyter gateway")
        msg = self.session.msg(msg_type, content)
        msg["channel"] = "shell"
        self.socket.send(msg)
        return str(msg["header"]["msg_id"])

    def recv(self, timeout: float) -> dict[str, Any] | None:
        if self.socket is None:
            raise Lost("not connected to the Jupyter gateway")
        return self.socket.recv(timeout)

    def request(self, msg_type: str, content: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a shell request; its reply's content (execute: once idle, with ``stdout``)."""
        msg_id = self.send(msg_type, content)
        reply: dict[str, Any] | None = None
        idle = msg_type != "execute_request"
        stdout: list[str] = []
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            left = deadline - time.monotonic()
            if left <= 0:
                raise KernelError(
                    f"the kernel on the Jupyter gateway at {self.rest.url} did not answer"
                )
            msg = self.recv(min(left, _WAIT))
            if msg is not None and is_death(msg):
                raise Died(f"the kernel on the Jupyter gateway at {self.rest.url} died")
            if msg is None or parent_id(msg) != msg_id:
                continue
            kind, body = msg.get("msg_type"), msg.get("content") or {}
            if kind == msg_type.replace("_request", "_reply"):
                reply = body
            elif kind == "status":
                idle = idle or body.get("execution_state") == "idle"
            elif kind == "stream" and body.get("name") == "stdout":
                stdout.append(str(body.get("text", "")))
        return {**reply, "stdout": "".join(stdout)}
