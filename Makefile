# The two commands of the README: `make up` and `make test`.
.PHONY: up test deps lint typecheck unit stop runsc

deps:
	@bash scripts/install-deps.sh

up: deps
	@bash scripts/up.sh

test:
	@YUN_DEPS_FOR=test bash scripts/install-deps.sh
	@bash scripts/test.sh

lint: deps
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench

typecheck: deps
	.venv/bin/mypy

unit: deps
	.venv/bin/pytest tests/unit -q

# gVisor's runsc, for spaces and apps that ask for the gvisor runtime: built once per machine
# from its Go module (needs Go) into /var/cache/yun.
runsc: deps
	.venv/bin/python -m yun.agent.runsc

stop:
	.venv/bin/yun server stop --all
