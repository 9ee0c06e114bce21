# Replydesk — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev migrate demo services test-system-deps bench lint format messages

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

# Runtime dependencies from the lock file (uv.lock); `--inexact` keeps dev tools if present.
install: $(BIN)/uv
	$(BIN)/uv sync --frozen --inexact --no-dev --quiet

install-dev: $(BIN)/uv
	$(BIN)/uv sync --frozen --quiet

migrate: install
	$(BIN)/python manage.py migrate --no-input

demo: migrate
	$(BIN)/python manage.py demo_setup

# Web app + Celery worker + beat + local Allegro sandbox with the buyer simulator. Ctrl-C stops all.
# Embedded default: SQLite (WAL) and kombu's filesystem broker; set DATABASE_URL / REDIS_URL for
# PostgreSQL and Redis.
run: demo
	$(BIN)/python manage.py run_stack

# PostgreSQL and Redis (started if installed and stopped), Chromium for the browser tests.
services:
	bin/ensure-services

test-system-deps:
	bin/ensure-test-system-deps

# The whole suite, browser tests included, on real PostgreSQL and Redis.
test: install-dev services test-system-deps
	$(BIN)/python -m pytest

bench: install-dev services
	$(BIN)/python -m bench

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Recompile translations after editing locale/*/LC_MESSAGES/django.po (needs GNU gettext).
messages: install-dev
	$(BIN)/python manage.py makemessages -l pl -l en --ignore=.venv --ignore=var
	$(BIN)/python manage.py compilemessages --ignore=.venv
