"""An app that fails at once, to show Yun's crash handling (restarts, backoff, CRASHED)."""

import sys

print("crash-at-start: missing configuration, giving up", file=sys.stderr, flush=True)
sys.exit(1)
