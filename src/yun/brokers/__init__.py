"""Backing services through the Open Service Broker API (v2.17).

`client` speaks OSB to any broker (the platform's side); `builtin` holds the brokers `yun server`
serves itself, over the same API, for PostgreSQL and Redis.
"""
