"""The ACME controller: orders the certificates `yun set-certificate NAME --acme` asked for,
renews them before they expire, and tries failed orders again with backoff.

Key `acme` looks at every ACME certificate and wakes `acme:NAME` for those due: never issued,
a failed order whose wait is over, or a renewal time reached (`yun.acme.renew_at`). An order
puts its HTTP-01 answers in the store, where the route controller gives them to the router;
before the CA is told to look, the router is asked for them the way the CA will ask, so a
router that does not serve them is reported as such. The certificate's state, last error and
next try are on its row, so `yun certificates` shows them and a restart keeps them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from cryptography import x509
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from yun.acme import AcmeError, Challenge, renew_at, retry_delay
from yun.controllers.runtime.managing import Result
from yun.router.config import CHALLENGE_PATH
from yun.store import events
from yun.store.models import AcmeAccount, AcmeChallenge, Certificate
from yun.store.session import Store

log = logging.getLogger(__name__)
IDLE_PASS = 3600.0  # with nothing due sooner, look again in an hour
SELF_CHECK_TIMEOUT = 20.0


class AcmeController:
    prefix = "acme"

    def __init__(
        self,
        *,
        store: Store,
        wake: Callable[[str], None],
        router_url: str,
        ca_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.wake = wake
        self.router_url = router_url
        self.ca_file = ca_file
        self.clock = clock
        self._ordering: set[str] = set()
        self._lock = threading.Lock()

    def reconcile(self, key: str) -> Result:
        if key == self.prefix:
            return self._schedule()
        self._order(key.partition(":")[2])
        return Result()

    def _schedule(self) -> Result:
        now = self.clock()
        soonest = now + IDLE_PASS
        with self.store.session() as session:
            rows = session.scalars(select(Certificate).where(Certificate.source == "acme"))
            for row in rows:
                at = due_at(row, now)
                if at <= now:
                    with self._lock:
                        busy = row.name in self._ordering
                    if not busy:
                        self.wake(f"{self.prefix}:{row.name}")
                else:
                    soonest = min(soonest, at)
        return Result(requeue_after=max(1.0, soonest - now))

    def _order(self, name: str) -> None:
        with self._lock:
            if name in self._ordering:
                return
            self._ordering.add(name)
        try:
            self._order_now(name)
        finally:
            with self._lock:
                self._ordering.discard(name)

    def _order_now(self, name: str) -> None:
        with self.store.session() as session:
            row = session.scalar(select(Certificate).where(Certificate.name == name))
            if row is None or row.source != "acme" or due_at(row, self.clock()) > self.clock():
                return
            directory, email = row.acme_directory or "", row.acme_email
            account_key = self._account_key(session, directory, email)
            row.state = "ordering"
        log.info("ordering a certificate for %s from %s", name, directory)
        from yun.acme.ordering import order  # the ACME library, loaded with the first order

        try:
            issued = order(
                directory=directory,
                email=email,
                account_key_pem=account_key,
                names=[name],
                publish=self._publish,
                withdraw=self._withdraw,
                ca_file=self.ca_file,
            )
        except AcmeError as exc:
            self._failed(name, str(exc))
            return
        except Exception as exc:  # a bug or a surprise from the library: still a failed order
            log.exception("ordering a certificate for %s failed", name)
            self._failed(name, f"{type(exc).__name__}: {exc}")
            return
        leaf = x509.load_pem_x509_certificates(issued.bundle.encode())[0]
        not_before = leaf.not_valid_before_utc.timestamp()
        with self.store.session() as session:
            row = session.scalar(select(Certificate).where(Certificate.name == name))
            if row is None or row.source != "acme":
                return  # deleted or replaced by an upload while the order ran
            renewal = bool(row.bundle)
            row.bundle = issued.bundle
            row.names = list(issued.names)
            row.not_after = issued.not_after.timestamp()
            row.renew_at = renew_at(not_before, row.not_after)
            row.state, row.last_error, row.attempts, row.next_attempt_at = "issued", "", 0, None
            events.record(
                session,
                type="certificate.renewed" if renewal else "certificate.issued",
                app=None,
                actor="acme",
                data={"name": name, "not_after": leaf.not_valid_after_utc.isoformat()},
            )
        log.info("certificate for %s issued, valid until %s", name, issued.not_after)
        self.wake("routes")
        self.wake(self.prefix)

    def _failed(self, name: str, reason: str) -> None:
        log.warning("ordering a certificate for %s failed: %s", name, reason)
        with self.store.session() as session:
            row = session.scalar(select(Certificate).where(Certificate.name == name))
            if row is None or row.source != "acme":
                return
            row.attempts += 1
            row.last_error = reason
            row.next_attempt_at = self.clock() + retry_delay(row.attempts)
            row.state = "failed"
            events.record(
                session,
                type="certificate.order_failed",
                app=None,
                actor="acme",
                data={"name": name, "reason": reason, "attempts": row.attempts},
            )
        self.wake(self.prefix)

    def _account_key(self, session: Session, directory: str, email: str) -> str:
        account = session.scalar(
            select(AcmeAccount).where(
                AcmeAccount.directory == directory, AcmeAccount.email == email
            )
        )
        if account is None:
            from yun.acme.ordering import new_account_key

            account = AcmeAccount(directory=directory, email=email, key_pem=new_account_key())
            session.add(account)
        return account.key_pem

    def _publish(self, challenges: list[Challenge]) -> None:
        with self.store.session() as session:
            tokens = [c.token for c in challenges]
            session.execute(delete(AcmeChallenge).where(AcmeChallenge.token.in_(tokens)))
            for c in challenges:
                session.add(
                    AcmeChallenge(token=c.token, key_authorization=c.key_authorization, name=c.name)
                )
        self.wake("routes")
        for challenge in challenges:
            self._self_check(challenge)

    def _withdraw(self, challenges: list[Challenge]) -> None:
        with self.store.session() as session:
            tokens = [c.token for c in challenges]
            session.execute(delete(AcmeChallenge).where(AcmeChallenge.token.in_(tokens)))
        self.wake("routes")

    def _self_check(self, challenge: Challenge) -> None:
        """Ask the router for the answer as the CA will (by the name, over HTTP) until it
        gives it: the CA is told to look only once the router would pass."""
        url = f"{self.router_url}{CHALLENGE_PATH}{challenge.token}"
        deadline = time.monotonic() + SELF_CHECK_TIMEOUT
        last = ""
        with httpx.Client(timeout=2.0, headers={"Host": challenge.name}) as http:
            while time.monotonic() < deadline:
                try:
                    answer = http.get(url)
                    if answer.status_code == 200 and answer.text == challenge.key_authorization:
                        return
                    last = f"it answered {answer.status_code}"
                except httpx.HTTPError as exc:
                    last = str(exc) or type(exc).__name__
                time.sleep(0.1)
        raise AcmeError(
            f"the router did not serve the HTTP-01 challenge for {challenge.name} ({last})"
        )


def due_at(row: Certificate, now: float) -> float:
    """When `row` should be ordered: a failed order's next try, else its renewal time, else
    now (never issued)."""
    if row.next_attempt_at is not None:
        return row.next_attempt_at
    if row.bundle and row.renew_at is not None:
        return row.renew_at
    return now
