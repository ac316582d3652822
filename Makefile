# The two commands of the README, and the pieces they are made of.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif

.PHONY: dev test lint unit uv bench

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install -q uv

# api + worker in one terminal; creates the database and applies migrations first.
dev: uv
	$(UV) sync --locked
	$(UV) run assetflow dev

lint: uv
	$(UV) sync --locked
	$(UV) run ruff check .
	$(UV) run mypy

# Needs DATABASE_URL and AMQP_URL (see the README), or a Docker engine for testcontainers.
test: lint
	$(UV) run pytest

# The benchmark suite (bench/README.md); needs DATABASE_URL and AMQP_URL like the tests.
bench: uv
	$(UV) sync --locked
	$(UV) run python -m bench
