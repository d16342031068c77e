"""A cluster that stops answering is asked again after 2, 4, 8 … up to 60 s; only the change is
news (one log line), and an answer resets the backoff."""

from __future__ import annotations

from yun.kube.reach import BACKOFF_MAX, Reach


def test_backoff_doubles_up_to_its_limit_and_only_changes_are_news() -> None:
    reach = Reach()
    assert reach.due(0.0) and reach.reachable is None
    assert reach.failed("connection refused", 100.0) is True
    waits = [reach.next_try - 100.0]
    for _ in range(7):
        assert reach.failed("connection refused", 100.0) is False  # not news any more
        waits.append(reach.next_try - 100.0)
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, BACKOFF_MAX, BACKOFF_MAX, BACKOFF_MAX]
    assert not reach.due(159.0) and reach.due(160.0)
    assert reach.since == 100.0 and reach.reason == "connection refused"

    assert reach.answered(170.0) is True
    assert (reach.reachable, reach.reason, reach.since, reach.failures) == (True, "", 170.0, 0)
    assert reach.due(170.0) and reach.answered(171.0) is False
