"""A background worker: no route, no port; it says it is alive every ten seconds."""

import os
import signal
import sys
import time

running = True


def stop(signum, frame):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
instance = os.environ.get("CF_INSTANCE_INDEX", "?")
print(f"worker {instance}: started", flush=True)
while running:
    time.sleep(10)
    print(f"worker {instance}: alive", flush=True)
print(f"worker {instance}: stopping", flush=True)
sys.exit(0)
