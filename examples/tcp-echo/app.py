"""A TCP echo for Yun's TCP routes (Stackato's harbor).

HTTP on $PORT says which instance it is (and passes the port health check); once the app has a
TCP route, every line sent to $STACKATO_HARBOR comes back prefixed with the instance index,
e.g. `1: hello`. Standard library only.
"""

import os
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INDEX = os.environ.get("CF_INSTANCE_INDEX", "?")
HOST = os.environ.get("VCAP_APP_HOST", "127.0.0.1")  # where the platform placed the instance


class Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(f"{INDEX}: ".encode() + line)
            self.wfile.flush()


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"tcp-echo instance {INDEX}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    harbor = os.environ.get("STACKATO_HARBOR")
    if harbor:
        echo = EchoServer((HOST, int(harbor)), Echo)
        threading.Thread(target=echo.serve_forever, daemon=True).start()
        print(f"echoing on {HOST}:{harbor}", flush=True)
    else:
        print("no TCP route yet: `yun create-route --tcp tcp-echo` gives it one", flush=True)
    ThreadingHTTPServer((HOST, int(os.environ.get("PORT", "8080"))), Hello).serve_forever()
