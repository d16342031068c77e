import pytest

from yun.agent import restart_delay
from yun.settings import Timing

CF = Timing()


@pytest.mark.parametrize(
    ("crash_count", "delay"),
    [
        (1, 0),
        (2, 0),
        (3, 0),
        (4, 30),
        (5, 60),
        (6, 120),
        (7, 240),
        (8, 480),
        (9, 960),  # 16 minutes: the cap
        (10, 960),
        (200, 960),
        (10_000, 960),
    ],
)
def test_cloud_foundry_schedule(crash_count: int, delay: float) -> None:
    assert restart_delay(crash_count, CF) == delay


def test_schedule_follows_timing() -> None:
    timing = Timing(immediate_restarts=1, first_backoff=0.5, max_backoff=1.5)
    assert [restart_delay(n, timing) for n in range(1, 6)] == [0, 0.5, 1.0, 1.5, 1.5]
