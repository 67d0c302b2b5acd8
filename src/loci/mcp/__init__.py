"""loci and the Model Context Protocol (the ``mcp`` extra): ``loci mcp`` serves loci's kernels
to other tools (``server.py``), and the MCP servers in config.toml lend a session their tools
(``tools.py``)."""
