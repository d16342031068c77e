#!/usr/bin/env bash
# `make test`: lint, type-check, layer contracts, then the whole pytest suite.
# pytest's exit code 5 (no tests collected) is a failure here, never a silent pass.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
echo "==> ruff"; .venv/bin/ruff check src tests bench || status=1
echo "==> mypy"; .venv/bin/mypy || status=1
echo "==> import-linter"; .venv/bin/lint-imports || status=1
# The tests' Kubernetes control plane is built once per machine (minutes, from Go modules), here
# rather than inside a test, which has a time limit; a machine without Go skips those tests.
echo "==> kubernetes control plane (tests/kube)"
.venv/bin/python -m tests.kube.build --node || echo "(not built: the Kubernetes tests will say why)"
echo "==> pytest"
.venv/bin/pytest -q -p no:cacheprovider --durations=40 "$@"
code=$?
if [ $code -eq 5 ]; then echo "pytest collected no tests: failing" >&2; code=1; fi
[ $code -ne 0 ] && status=$code
exit $status
