# mypy: ignore-errors
# loci: the MCP servers' tools as Python functions in the kernel.
#
# loci copies this file beside its bridge socket and names it in PYTHONSTARTUP, so IPython
# runs it in the user namespace whenever the kernel starts (and restarts). It defines one
# object per MCP server (LOCI_MCP_SERVERS); ``weather.forecast(city="Paris")`` sends the
# call to loci over the Unix socket LOCI_MCP_SOCKET with the session's LOCI_MCP_TOKEN and
# returns what the tool gave, or raises McpError. The standard library only, and nothing
# left in the namespace but the server objects and McpError: the kernel may be any Python.
# ruff: noqa


def _loci_mcp_setup(namespace):
    import json
    import os
    import socket

    path = os.environ.get("LOCI_MCP_SOCKET", "")
    token = os.environ.get("LOCI_MCP_TOKEN", "")

    class McpError(RuntimeError):
        """A call to an MCP server's tool failed; the message says why."""

    def plain(value):  # numpy and pandas values, sets, tuples: as JSON can carry them
        for method in ("tolist", "item"):
            if callable(getattr(value, method, None)):
                return getattr(value, method)()
        if isinstance(value, (set, frozenset, tuple)):
            return list(value)
        return str(value)

    def ask(request):
        request["token"] = token
        data = (json.dumps(request, default=plain) + "\n").encode("utf-8")
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(path)
            conn.sendall(data)
            chunks = []
            while True:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError as exc:
            raise McpError("loci cannot be reached to call MCP tools (%s)" % exc) from None
        finally:
            conn.close()
        try:
            answer = json.loads(b"".join(chunks).decode("utf-8"))
        except ValueError:
            raise McpError("loci gave no answer to the MCP call") from None
        if not answer.get("ok"):
            raise McpError(answer.get("error") or "the MCP call failed")
        return answer.get("value")

    class Tool(object):
        def __init__(self, server, name):
            self._server, self._name = server, name

        def __call__(self, *args, **kwargs):
            request = {"server": self._server, "tool": self._name, "args": list(args)}
            request["kwargs"] = kwargs
            return ask(request)

        def __repr__(self):
            return "<MCP tool %s.%s>" % (self._server, self._name)

    class Server(object):
        """An MCP server's tools, called as methods: ``server.tool(name=value)``."""

        def __init__(self, name):
            self._name = name

        def __getattr__(self, name):
            if name.startswith("_"):
                raise AttributeError(name)
            return Tool(self._name, name)

        def __dir__(self):
            return list(ask({"server": self._name, "list": True}))

        def __repr__(self):
            try:
                tools = ask({"server": self._name, "list": True})
            except McpError as exc:
                return "<MCP server %s: %s>" % (self._name, exc)
            return "<MCP server %s: %s>" % (self._name, "; ".join(tools.values()))

    namespace["McpError"] = McpError
    for name in os.environ.get("LOCI_MCP_SERVERS", "").split(","):
        if name:
            namespace[name] = Server(name)
    return os.environ.get("LOCI_MCP_PYTHONSTARTUP", "")


_loci_mcp_next = _loci_mcp_setup(globals())
del _loci_mcp_setup
if _loci_mcp_next:  # the PYTHONSTARTUP the user had set
    with open(_loci_mcp_next) as _loci_mcp_file:
        exec(compile(_loci_mcp_file.read(), _loci_mcp_next, "exec"))
    del _loci_mcp_file
del _loci_mcp_next
