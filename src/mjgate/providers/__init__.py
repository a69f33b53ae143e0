"""Executors that do the work: the only package that talks to the outside (never imports db)."""
