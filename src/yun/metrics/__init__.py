"""Metrics: what instances, apps, routes and services use and serve, kept and exported."""
