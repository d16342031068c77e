"""A Flask app on PostgreSQL: each visit is a row; the page says how many there were."""

import os

import psycopg
from flask import Flask

app = Flask(__name__)


def database():
    return psycopg.connect(os.environ["DATABASE_URL"], autocommit=True, connect_timeout=5)


@app.get("/")
def home():
    with database() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS visits (at timestamptz DEFAULT now())")
        conn.execute("INSERT INTO visits DEFAULT VALUES")
        (count,) = conn.execute("SELECT count(*) FROM visits").fetchone()
    return f"Hello from Flask on PostgreSQL: visit {count}\n"


@app.get("/health")
def health():
    return "ok\n"


if __name__ == "__main__":
    app.run(host=os.environ.get("VCAP_APP_HOST", "127.0.0.1"), port=int(os.environ["PORT"]))
