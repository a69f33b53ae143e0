"""Loops over the database that move tasks along: dispatch, poll, sweep."""
