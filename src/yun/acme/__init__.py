"""Certificates from an ACME CA (RFC 8555: Let's Encrypt, ZeroSSL, step-ca, Pebble).

`order` runs one order with HTTP-01 challenges through the `acme` library (certbot's), handing
the challenges to the caller to serve; `schedule` says when a certificate is renewed and when a
failed order is tried again. Which certificates to order, and where the results go, is the
control plane's business (`yun.controllers.acme`).
"""

from yun.acme.challenge import AcmeError, Challenge
from yun.acme.schedule import renew_at, retry_delay

# `order` and `new_account_key` are in `yun.acme.ordering`, imported where an order is made:
# the ACME library and its dependencies take some megabytes a server without orders need not hold.
__all__ = ["AcmeError", "Challenge", "renew_at", "retry_delay"]
