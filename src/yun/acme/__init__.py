"""Certificates from an ACME CA (RFC 8555: Let's Encrypt, ZeroSSL, step-ca, Pebble).

`order` runs one order with HTTP-01 challenges through the `acme` library (certbot's), handing
the challenges to the caller to serve; `schedule` says when a certificate is renewed and when a
failed order is tried again. Which certificates to order, and where the results go, is the
control plane's business (`yun.controllers.acme`).
"""

from yun.acme.ordering import AcmeError, Challenge, new_account_key, order
from yun.acme.schedule import renew_at, retry_delay

__all__ = ["AcmeError", "Challenge", "new_account_key", "order", "renew_at", "retry_delay"]
