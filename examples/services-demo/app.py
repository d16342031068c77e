"""A notes app on Yun's built-in services: notes in PostgreSQL (DATABASE_URL), a hit counter in
Redis (REDIS_URL), and what VCAP_SERVICES says it is bound to."""

import json
import os
import sys

import psycopg
import redis
from flask import Flask, abort, request

app = Flask(__name__)


def database() -> psycopg.Connection:
    url = os.environ.get("DATABASE_URL")
    if not url:
        abort(503, "no DATABASE_URL: bind a PostgreSQL service")
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def cache() -> redis.Redis:
    url = os.environ.get("REDIS_URL")
    if not url:
        abort(503, "no REDIS_URL: bind a Redis service")
    return redis.Redis.from_url(url, socket_timeout=5)


@app.get("/")
def hello() -> str:
    return f"services-demo instance {os.environ.get('CF_INSTANCE_INDEX', '?')}\n"


@app.get("/health")
def health() -> str:
    return "ok\n"


@app.post("/notes")
def add_note() -> dict:
    text = request.get_data(as_text=True) or "(empty)"
    with database() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, text text)")
        conn.execute("INSERT INTO notes (text) VALUES (%s)", (text,))
    print(f"note added: {text}", flush=True)
    return {"added": text}


@app.get("/notes")
def notes() -> dict:
    with database() as conn:
        exists = conn.execute("SELECT to_regclass('public.notes')").fetchone()[0]
        rows = conn.execute("SELECT text FROM notes ORDER BY id").fetchall() if exists else []
    return {"notes": [text for (text,) in rows]}


@app.delete("/notes")
def drop_notes() -> dict:
    with database() as conn:
        conn.execute("DROP TABLE IF EXISTS notes")
    return {"dropped": True}


@app.post("/counter")
def hit() -> dict:
    return {"counter": cache().incr("hits")}


@app.get("/counter")
def counter() -> dict:
    return {"counter": int(cache().get("hits") or 0)}


@app.delete("/counter")
def reset() -> dict:
    cache().delete("hits")
    return {"counter": 0}


@app.get("/services")
def services() -> dict:
    bound = json.loads(os.environ.get("VCAP_SERVICES", "{}"))
    return {label: [entry["name"] for entry in entries] for label, entries in bound.items()}


@app.post("/log")
def log_line() -> dict:
    text = request.get_data(as_text=True)
    print(text, file=sys.stdout, flush=True)
    return {"logged": text}


if __name__ == "__main__":
    host = os.environ.get("VCAP_APP_HOST", "127.0.0.1")
    app.run(host=host, port=int(os.environ.get("PORT", "8080")))
