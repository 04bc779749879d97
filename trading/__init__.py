"""Bots, orders, fills, the bot runtime on Celery, risk sweeps and kill switches."""
