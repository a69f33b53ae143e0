"""The HTTP face of mjgate: the /mj contract (PROTOCOL.md)."""
