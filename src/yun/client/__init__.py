"""A typed HTTP client for Yun's API; the CLI is a thin layer over it."""

from yun.client.api import ApiClient, ApiError

__all__ = ["ApiClient", "ApiError"]
