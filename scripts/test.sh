#!/usr/bin/env bash
# `make test`: lint, type-check, layer contracts, then the whole pytest suite (or the tests
# named as arguments).
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
# gVisor's runsc (the gvisor runtime) likewise, once per machine from its Go module.
echo "==> gVisor runsc (src/yun/agent/runsc)"
.venv/bin/python -m yun.agent.runsc || echo "(not built: the gVisor tests will say why)"
# pytest's exit code 5 (no tests collected) is a failure, never a silent pass.
run_pytest() {
  .venv/bin/pytest -q -p no:cacheprovider "$@"
  local code=$?
  if [ $code -eq 5 ]; then echo "pytest collected no tests: failing" >&2; code=1; fi
  [ $code -ne 0 ] && status=$code
  return 0
}
if [ $# -gt 0 ]; then  # the tests asked for, as asked
  echo "==> pytest $*"
  run_pytest --durations=40 "$@"
else
  # The unit tests keep to themselves (temporary files, loopback ports of their own): two at a
  # time. The others start platforms and servers, and some watch how one behaves under load:
  # one at a time.
  echo "==> pytest tests/unit (two workers)"
  run_pytest -n 2 tests/unit
  echo "==> pytest tests (integration and end-to-end)"
  run_pytest --durations=40 --ignore=tests/unit tests
fi
exit $status
