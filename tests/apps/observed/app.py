"""A small web app that logs what it is asked, for the logs and metrics tests.

GET /             answers "observed" and logs the request's trace context
GET /spew?n=N     logs N lines as fast as it can, in the background, then "spew done"
GET /call?to=URL&host=HOST   calls another app through the router, passing the trace on
GET /burn?seconds=S          keeps a CPU busy for S seconds
"""

import os
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def spew(count):
    started = time.monotonic()
    filler = "x" * 150
    for n in range(count):
        sys.stdout.write(f"spew {n} {filler}\n")
    sys.stdout.flush()
    print(f"spew done: {count} lines in {time.monotonic() - started:.2f} s", flush=True)


def burn(seconds):
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        sum(range(10000))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        trace = self.headers.get("traceparent", "-")
        print(f"{url.path} traceparent={trace}", flush=True)
        body = "observed\n"
        if url.path == "/spew":
            threading.Thread(target=spew, args=(int(query["n"]),)).start()
            body = "spewing\n"
        elif url.path == "/burn":
            threading.Thread(target=burn, args=(float(query["seconds"]),)).start()
            body = "burning\n"
        elif url.path == "/call":
            ask = urllib.request.Request(
                query["to"], headers={"Host": query["host"], "traceparent": trace}
            )
            with urllib.request.urlopen(ask, timeout=10) as answer:
                body = "called: " + answer.read().decode()
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
