"""Services of the exchanges app; credentials.py owns every read and write of keys."""
