"""Instruments, candles, collectors, history import and the live market fan-out."""
