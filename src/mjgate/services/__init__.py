"""Use cases, one transaction each: submit, apply_update, cancel, billing, accounts."""
