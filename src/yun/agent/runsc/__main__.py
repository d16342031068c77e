"""`python -m yun.agent.runsc`: build gVisor's runsc into the machine's cache (once)."""

from __future__ import annotations

import sys

from yun.agent.runsc import BuildError, build


def main() -> int:
    try:
        print(build(lambda line: print(line, flush=True)))
    except (BuildError, OSError) as exc:
        print(f"yun: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
