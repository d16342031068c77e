"""parse_size: the units Cloud Foundry and Stackato users write, in megabytes."""

from __future__ import annotations

import pytest

from yun.manifest import parse_size


@pytest.mark.parametrize(
    ("text", "megabytes"),
    [
        ("256M", 256),
        ("256m", 256),
        ("512MB", 512),
        ("512mb", 512),
        ("1G", 1024),
        ("1GB", 1024),
        ("2gb", 2048),
        ("1.5G", 1536),
        ("1T", 1024 * 1024),
        ("1024", 1024),
        (" 64M ", 64),
        ("64 M", 64),
        ("512Mi", 512),
        ("1GiB", 1024),
        ("1024K", 1),
        ("2048KB", 2),
        ("1048576B", 1),
        ("0M", 0),
        (256, 256),
        (0, 0),
    ],
)
def test_sizes_in_megabytes(text: str | int, megabytes: int) -> None:
    assert parse_size(text) == megabytes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12Q", '"12Q" is not a size like 256M or 1G'),
        ("", '"" is not a size like 256M or 1G'),
        ("M", '"M" is not a size like 256M or 1G'),
        ("-1G", '"-1G" is not a size like 256M or 1G'),
        ("1,5G", '"1,5G" is not a size like 256M or 1G'),
        ("one gig", '"one gig" is not a size like 256M or 1G'),
        ("256MBB", '"256MBB" is not a size like 256M or 1G'),
        ("1.3M", '"1.3M" is not a whole number of megabytes'),
        ("100K", '"100K" is not a whole number of megabytes'),
        (-5, "-5 is not a size like 256M or 1G"),
        (True, "true is not a size like 256M or 1G"),
        (1.5, "1.5 is not a size like 256M or 1G"),
    ],
)
def test_bad_sizes_are_value_errors(text: str | int, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_size(text)
    assert str(info.value) == message
