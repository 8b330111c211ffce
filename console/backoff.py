"""Retry spacing shared by every retrying loop (pushes, stream reconnects, the guard's writes):
exponential, capped, with jitter so that racing clients do not retry in lockstep."""

from __future__ import annotations

from collections.abc import Callable


def backoff_delay(
    attempt: int, rng: Callable[[], float], base: float = 0.2, cap: float = 5.0
) -> float:
    """Exponential backoff with ±50 % jitter, so racing writers do not retry in lockstep."""
    return float(min(cap, base * 2 ** (attempt - 1)) * (0.5 + rng()))
