"""A background worker for Yun: no route, no port; it prints a line every second."""

import os
import signal
import sys
import time

running = True


def stop(signum: int, frame: object) -> None:
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
instance = os.environ.get("CF_INSTANCE_INDEX", "?")
tick = 0
while running:
    tick += 1
    print(f"worker {instance}: tick {tick}", flush=True)
    time.sleep(1)
print(f"worker {instance}: stopping after {tick} ticks", flush=True)
sys.exit(0)
