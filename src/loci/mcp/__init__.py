"""loci and the Model Context Protocol (the ``mcp`` extra)."""
