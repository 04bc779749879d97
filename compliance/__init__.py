"""Audit trail, tax lots, tax and trade exports."""
