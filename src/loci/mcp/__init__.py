"""MCP (the Model Context Protocol) in loci."""
