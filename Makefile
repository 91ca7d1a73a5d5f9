# Conveniences; the README's commands are scripts/demo.sh and scripts/test.sh.
.PHONY: setup demo test unit lint binaries down

setup:
	scripts/setup.sh

demo:
	scripts/demo.sh

test:
	scripts/test.sh

unit: setup
	.venv/bin/pytest -q tests/unit

lint: setup
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy

binaries:
	.venv/bin/kokpit binaries build

down:
	.venv/bin/kokpit sandbox down
