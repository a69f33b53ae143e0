"""Pure rules of the gateway: no I/O, no framework."""
