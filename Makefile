# Peregrine: `make run` starts the platform, `make test` runs the tests and quality gates.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed-$(shell cat requirements.lock requirements/*.in 2>/dev/null | cksum | cut -d' ' -f1)

.PHONY: run test install lock lint check bench clean-var backup restore

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv==0.13.9
	$(UV) pip install -q --compile-bytecode -p $(PY) -r requirements.lock
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

lock:
	$(UV) pip compile -q requirements/base.in requirements/dev.in requirements/bench.in -o requirements.lock

run: install
	$(PY) -m config.run

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

check: install
	$(PY) -m config.embedded -- sh -c '$(PY) manage.py makemigrations --check --dry-run && $(PY) manage.py check'

test: export PEREGRINE_ENV = test
test: install lint
	$(PY) -m config.embedded -- sh -c '$(PY) manage.py makemigrations --check --dry-run && $(PY) -m pytest $(PYTEST_ARGS)'

# make backup [BACKUP_DIR=var/backups]: the database, pg_dump custom format, timestamped
backup: install
	$(PY) -m config.embedded -- $(PY) -m config.backup backup --dir $(or $(BACKUP_DIR),var/backups)

# make restore BACKUP=var/backups/<file>.dump DATABASE=<name> [CONFIRM=yes]: without CONFIRM it
# only says what it would do
restore: install
	@test -n "$(BACKUP)" -a -n "$(DATABASE)" || { echo "usage: make restore BACKUP=var/backups/<file>.dump DATABASE=<name> [CONFIRM=yes]"; exit 2; }
	$(PY) -m config.embedded -- $(PY) -m config.backup restore $(BACKUP) --database $(DATABASE) $(if $(filter yes,$(CONFIRM)),--confirm)

bench: install
	$(PY) -m config.embedded -- sh -c 'for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done'

clean-var:
	rm -rf var
