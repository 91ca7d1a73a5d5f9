#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the linters, the type checker and every test:
# unit tests, and integration tests against a real sandbox of local clusters.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The older releases the upgrade tests start from build in the background, niced, while the linters,
# the type checker and the first tests run: on a fresh machine that hides most of their ~7 minutes.
# A test that needs one waits on that build's lock (kokpit.binaries.build), or builds it itself
# should the background build have failed.
upgrade_log=$(mktemp -t kokpit-upgrade-releases.XXXXXX)
setsid nice -n 10 scripts/setup.sh --upgrade-releases >"$upgrade_log" 2>&1 &
upgrade_build=$!
trap 'kill -- -"$upgrade_build" 2>/dev/null || true; rm -f "$upgrade_log"' EXIT

printf '\033[1m==> ruff\033[0m\n' >&2
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
printf '\033[1m==> mypy\033[0m\n' >&2
.venv/bin/mypy
printf '\033[1m==> pytest\033[0m\n' >&2
status=0
.venv/bin/pytest -q -p no:cacheprovider --durations=40 "$@" || status=$?
if ! kill -0 "$upgrade_build" 2>/dev/null && ! wait "$upgrade_build"; then
  printf '\033[1m==> the background build of the upgrade releases failed:\033[0m\n' >&2
  tail -n 20 "$upgrade_log" >&2
fi
exit "$status"
