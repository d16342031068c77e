"""Yun's hello-world Flask app: which instance answered, any env var, and a health endpoint."""

import os

from flask import Flask, abort

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return f"Hello from Yun! instance {os.environ.get('CF_INSTANCE_INDEX', '?')}\n"


@app.get("/env/<key>")
def env(key: str) -> str:
    if key not in os.environ:
        abort(404)
    return os.environ[key] + "\n"


@app.get("/health")
def health() -> tuple[str, int]:
    return "ok\n", 200


if __name__ == "__main__":
    # The platform says where to listen; loopback unless it asks for more (containers do).
    host = os.environ.get("VCAP_APP_HOST", "127.0.0.1")
    app.run(host=host, port=int(os.environ.get("PORT", "8080")))
