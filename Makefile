# The two commands of the README, and the pieces they are made of.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif

.PHONY: dev test lint unit uv bench browser

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
	$(UV) run lint-imports

# The browser tests drive Debian's chromium (Playwright never downloads a browser of its own);
# installed here when missing and CHROMIUM_PATH names none.
browser:
	@[ -n "$$CHROMIUM_PATH" ] || command -v chromium >/dev/null 2>&1 || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	} || { echo "The browser tests need Debian's chromium: apt-get install chromium, or set CHROMIUM_PATH."; exit 1; }

# Needs DATABASE_URL and AMQP_URL (see the README), or a Docker engine for testcontainers.
test: lint browser
	$(UV) run pytest

# The benchmark suite (bench/README.md); needs DATABASE_URL and AMQP_URL like the tests.
bench: uv
	$(UV) sync --locked
	$(UV) run python -m bench
