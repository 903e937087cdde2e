"""The injectable clock: all business time comes from here so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock(Clock):
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **kwargs: float) -> None:
        self._now += timedelta(**kwargs)

    def set(self, at: datetime) -> None:
        self._now = at


_clock: Clock = Clock()


def now() -> datetime:
    return _clock.now()


def set_clock(clock: Clock) -> None:
    global _clock
    _clock = clock
