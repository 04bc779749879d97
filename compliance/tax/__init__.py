"""Tax lots and tax reports: a pure Decimal engine (engine.py, normalize.py, formats.py) and the
Django shell around it (sources, pricing, reports, services, selectors)."""
