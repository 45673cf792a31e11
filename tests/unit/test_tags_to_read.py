"""Which accounts' tags a periodic refresh reads again (domain.accounts.tags_to_read)."""

from __future__ import annotations

from cloud_access_bot.domain.accounts import tags_to_read

HOUR = 3600.0


def test_accounts_never_read_are_all_read() -> None:
    assert tags_to_read(["a", "b", "c"], {}, now=0.0, max_age_s=6 * HOUR, refresh_s=HOUR) == [
        "a",
        "b",
        "c",
    ]


def test_a_refresh_reads_the_stalest_share_of_the_known_accounts() -> None:
    """Hourly refreshes, six hours' maximum age: a sixth of the accounts each time, oldest
    first."""
    read_at = {f"{n:03}": float(n) for n in range(600)}
    chosen = tags_to_read(read_at, read_at, now=1000.0, max_age_s=6 * HOUR, refresh_s=HOUR)
    assert chosen == [f"{n:03}" for n in range(100)]


def test_new_accounts_come_first_then_the_share() -> None:
    read_at = {"old": 0.0, "older": -1.0, "fresh": 10.0}
    ids = ["fresh", "new", "old", "older"]
    chosen = tags_to_read(ids, read_at, now=20.0, max_age_s=3 * HOUR, refresh_s=HOUR)
    assert chosen == ["new", "older"]


def test_every_account_is_read_within_the_maximum_age() -> None:
    """Rotating: after max_age ÷ refresh refreshes every account has been read again."""
    read_at = dict.fromkeys((f"{n:02}" for n in range(50)), 0.0)
    seen: set[str] = set()
    for refresh in range(1, 7):
        now = refresh * HOUR
        chosen = tags_to_read(read_at, read_at, now=now, max_age_s=6 * HOUR, refresh_s=HOUR)
        assert len(chosen) <= 9
        seen.update(chosen)
        read_at.update(dict.fromkeys(chosen, now))
    assert seen == set(read_at)


def test_accounts_past_the_maximum_age_are_all_read() -> None:
    """After failed refreshes, everything older than the maximum is caught up at once."""
    read_at = {"a": 0.0, "b": 0.0, "c": 5 * HOUR, "d": 5 * HOUR}
    chosen = tags_to_read(read_at, read_at, now=6 * HOUR, max_age_s=6 * HOUR, refresh_s=HOUR)
    assert chosen == ["a", "b"]


def test_a_maximum_age_below_the_refresh_interval_reads_everything() -> None:
    read_at = {"a": 0.0, "b": 1.0}
    assert tags_to_read(read_at, read_at, now=2.0, max_age_s=60.0, refresh_s=HOUR) == ["a", "b"]
