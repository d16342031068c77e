import os

import bottle
from waitress import serve

app = bottle.Bottle()


@app.route("/")
def index():
    return "Hello from a uv-locked Bottle app on waitress\n"


if __name__ == "__main__":
    serve(app, host="0.0.0.0", port=int(os.environ.get("PORT", "8080")))
