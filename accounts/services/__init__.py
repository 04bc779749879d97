"""Writes of the accounts app, by topic."""
