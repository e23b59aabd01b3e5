"""json_time_error: Go 1.19's time.Time UnmarshalJSON errors (checked against dockerd
20.10.24's ``docker load`` of configs with these ``created`` values)."""

from __future__ import annotations

import pytest

from berthd.lib.gotime import json_time_error

LAYOUT = '"\\"2006-01-02T15:04:05Z07:00\\""'


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('"2024-13-01T00:00:00Z"', 'parsing time "\\"2024-13-01T00:00:00Z\\"": month out of range'),
        ('"2024-02-30T00:00:00Z"', 'parsing time "\\"2024-02-30T00:00:00Z\\"": day out of range'),
        ('"2023-02-29T00:00:00Z"', 'parsing time "\\"2023-02-29T00:00:00Z\\"": day out of range'),
        ('"2024-01-01T24:00:00Z"', 'parsing time "\\"2024-01-01T24:00:00Z\\"": hour out of range'),
        (
            '"2024-01-01T00:00:60Z"',
            'parsing time "\\"2024-01-01T00:00:60Z\\"": second out of range',
        ),
        (
            '"2024-01-01 00:00:00Z"',
            f'parsing time "\\"2024-01-01 00:00:00Z\\"" as {LAYOUT}: '
            'cannot parse " 00:00:00Z\\"" as "T"',
        ),
        (
            '"2024-01-01t00:00:00Z"',
            f'parsing time "\\"2024-01-01t00:00:00Z\\"" as {LAYOUT}: '
            'cannot parse "t00:00:00Z\\"" as "T"',
        ),
        (
            '"2024-01-01T00:00:00Zjunk"',
            f'parsing time "\\"2024-01-01T00:00:00Zjunk\\"" as {LAYOUT}: '
            'cannot parse "junk\\"" as "\\""',
        ),
        (
            '"2024-01-01T00:00:00"',
            f'parsing time "\\"2024-01-01T00:00:00\\"" as {LAYOUT}: cannot parse "\\"" as "Z07:00"',
        ),
        (
            '"2024-01-01T00:00:00+0100"',
            f'parsing time "\\"2024-01-01T00:00:00+0100\\"" as {LAYOUT}: '
            'cannot parse "+0100\\"" as "Z07:00"',
        ),
        ("true", f'parsing time "true" as {LAYOUT}: cannot parse "true" as "\\""'),
        ("[1]", f'parsing time "[1]" as {LAYOUT}: cannot parse "[1]" as "\\""'),
    ],
)
def test_refused_as_go_refuses(raw: str, message: str) -> None:
    assert json_time_error(raw) == message


@pytest.mark.parametrize(
    "raw",
    [
        "null",
        '"2024-01-01T00:00:00Z"',
        '"2024-01-01T1:00:00Z"',  # Go takes a one-digit hour
        '"2024-01-01T00:00:00.123456789123+01:00"',  # and any fraction
        '"2024-01-01T00:00:00+25:00"',
        '"0000-01-01T00:00:00Z"',
        '"2024-02-29T00:00:00-00:00"',
    ],
)
def test_accepted_as_go_accepts(raw: str) -> None:
    assert json_time_error(raw) is None
