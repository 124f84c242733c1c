"""RetryPolicy: which statuses retry, Retry-After parsing, backoff bounds, when to stop."""

from __future__ import annotations

import email.utils
import time

import pytest

from coe.config import HttpSettings
from coe.providers.http import RetryPolicy, parse_retry_after


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status: int) -> None:
    assert RetryPolicy.should_retry_status(status)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 413, 422])
def test_non_retryable_statuses(status: int) -> None:
    assert not RetryPolicy.should_retry_status(status)


@pytest.mark.parametrize(("value", "expected"), [("3", 3.0), ("0.5", 0.5), (" 7 ", 7.0), ("0", 0.0)])
def test_parse_retry_after_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    header = email.utils.formatdate(time.time() + 5, usegmt=True)  # whole seconds: 4 < wait <= 5
    wait = parse_retry_after(header)
    assert wait is not None
    assert 3.5 <= wait <= 5.5


def test_parse_retry_after_http_date_in_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "Fri, 99 Foo 2015", "nan", "inf"])
def test_parse_retry_after_garbage(value: str | None) -> None:
    assert parse_retry_after(value) is None


@pytest.mark.parametrize("value", ["-1", "-30.5"])
def test_parse_retry_after_negative_is_zero(value: str) -> None:
    assert parse_retry_after(value) == 0.0


def test_backoff_grows_and_stays_within_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_s=0.5, cap_s=8.0)
    for attempt in range(1, 11):
        ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
        for _ in range(200):
            delay = policy.backoff(attempt)
            assert ceiling / 2 <= delay <= ceiling <= 8.0
    # growth: the lowest possible delay of a later attempt is at least the highest of an earlier one
    samples = [max(policy.backoff(1) for _ in range(50)), min(policy.backoff(3) for _ in range(50))]
    assert samples[0] < samples[1]
    assert max(policy.backoff(20) for _ in range(200)) <= 8.0


def test_delay_stops_at_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.delay(1) is not None
    assert policy.delay(2) is not None
    assert policy.delay(3) is None
    assert policy.delay(3, {"Retry-After": "1"}) is None


def test_delay_uses_retry_after_up_to_cap() -> None:
    policy = RetryPolicy(max_attempts=3, retry_after_cap_s=10.0)
    assert policy.delay(1, {"Retry-After": "4"}) == 4.0
    assert policy.delay(1, {"retry-after": "10"}) == 10.0
    assert policy.delay(1, {"Retry-After": "11"}) is None
    assert policy.delay(1, {"Retry-After": "junk"}) is not None  # falls back to backoff


def test_from_settings() -> None:
    s = HttpSettings(max_attempts=5, backoff_base_s=0.1, backoff_cap_s=2.0, retry_after_cap_s=7.0)
    policy = RetryPolicy.from_settings(s)
    assert (policy.max_attempts, policy.base_s, policy.cap_s, policy.retry_after_cap_s) == (5, 0.1, 2.0, 7.0)
