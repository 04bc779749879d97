#!/usr/bin/env python
"""Django's command line. Without DATABASE_URL / REDIS_URL (outside production) a command uses
the embedded servers under ./var/, as `make run` does: attached to them when `make run` is up,
started for the command and stopped after it otherwise. So `.venv/bin/python manage.py
changepassword EMAIL` works on a fresh machine as it does with docker-compose."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    embedded_default = os.environ.get("PEREGRINE_ENV", "development") != "production"
    if embedded_default and not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        from config import embedded

        with embedded.services():
            execute_from_command_line(sys.argv)
        return
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
