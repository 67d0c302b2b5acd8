"""Run a kernel command under loci's limits. A standalone script: it imports nothing of loci.

    python -I -S _launch.py outer -- bwrap ... -- python -I -S _launch.py inner OPTIONS -- CMD...

``outer`` runs on the host, just before bubblewrap: it makes SIGINT ignored, so that an interrupt
sent to the kernel's process group reaches the code but does not kill bwrap's monitor process
(which would take the whole sandbox with it). ``inner`` runs inside the sandbox (or directly,
when nothing confines): it sets SIGINT back to its default, applies the resource limits, and
``exec``s the kernel, so no extra process stays around.

Options of ``inner``:

    --memory BYTES     RLIMIT_AS: the most address space any one process may map
    --processes N      RLIMIT_NPROC (counts only this sandbox's processes inside a fresh user
                       namespace); and, when running as root inside a fresh pid namespace, that
                       namespace's pid_max (root is exempt from RLIMIT_NPROC)
    --host-ns PID,USER the host's pid and user namespaces: pid_max is only written when both of
                       ours differ and Linux is 6.14 or newer (before that pid_max is global)
    --drop-caps        empty the capability bounding set and set no_new_privs before exec; also
                       unset JPY_PARENT_PID: in a pid namespace ipykernel's parent poller would
                       see parent pid 1 and quit (``--die-with-parent`` does its job instead)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
import sys

_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PID_MAX_MIN = 301  # the kernel refuses smaller values


def _set_limit(which: int, value: int) -> None:
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def per_namespace_pid_max() -> bool:
    """Linux 6.14 made ``pid_max`` a property of each pid namespace."""
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (6, 14)


def _cap_pid_max(processes: int, host_ns: str) -> None:
    """In our own pid namespace (never the host's), allow at most ~``processes`` pids."""
    try:
        ours = os.readlink("/proc/self/ns/pid") + "," + os.readlink("/proc/self/ns/user")
        pid_ns, user_ns = host_ns.split(",") if "," in host_ns else ("", "")
        if not pid_ns or not per_namespace_pid_max() or pid_ns in ours or user_ns in ours:
            return
        with open("/proc/sys/kernel/pid_max", "w", encoding="ascii") as f:
            f.write(str(max(processes + 1, _PID_MAX_MIN)))
    except OSError:
        return  # older kernels: pid_max is global and not writable from a namespace


def _drop_caps() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as f:
            last = int(f.read().strip())
    except (OSError, ValueError):
        last = 40
    for cap in range(last + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _inner(args: list[str]) -> list[str]:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    memory = processes = 0
    host_ns = ""
    drop = False
    while args and args[0] != "--":
        flag = args.pop(0)
        if flag == "--drop-caps":
            drop = True
            continue
        value = args.pop(0)
        if flag == "--memory":
            memory = int(value)
        elif flag == "--processes":
            processes = int(value)
        elif flag == "--host-ns":
            host_ns = value
    if memory:
        _set_limit(resource.RLIMIT_AS, memory)
    if processes:
        _set_limit(resource.RLIMIT_NPROC, processes)
        if os.getuid() == 0:
            _cap_pid_max(processes, host_ns)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not write a core dump
    if drop:
        os.environ.pop("JPY_PARENT_PID", None)
        _drop_caps()
    return args[1:]


def main(argv: list[str]) -> None:
    mode, rest = argv[0], argv[1:]
    if mode == "outer":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        command = rest[1:]
    else:
        command = _inner(rest)
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"loci: cannot run {command[0]}: {exc}\n")
        os._exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
