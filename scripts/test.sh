#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the linters, the type checker and every test:
# unit tests, and integration tests against a real sandbox of local clusters.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --for-tests

printf '\033[1m==> ruff\033[0m\n' >&2
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
printf '\033[1m==> mypy\033[0m\n' >&2
.venv/bin/mypy
printf '\033[1m==> pytest\033[0m\n' >&2
exec .venv/bin/pytest -q -p no:cacheprovider --durations=40 "$@"
