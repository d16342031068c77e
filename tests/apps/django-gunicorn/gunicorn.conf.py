# Gunicorn settings in the style of Heroku's getting-started app: listen on IPv6 and IPv4.
import os

bind = ["[::]:" + os.environ.get("PORT", "8000")]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
accesslog = "-"
