"""The brokers `yun server` serves itself: PostgreSQL and Redis from the host's Debian packages.

`base` is the small interface between the OSB endpoints (`osb`) and the service backends that
run real servers (`postgresql`, `redis`).
"""
