"""omni311 developer and operator tools (not deployed as services)."""
