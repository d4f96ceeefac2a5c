"""Deterministic randomness: every draw is a pure function of the names it is drawn for.

Interval noise is a counter-based hash (splitmix64) of a stream key and the interval's
start time, computed on whole NumPy arrays, so any period can be generated alone and
gives the same numbers as a longer one containing it.
"""

from __future__ import annotations

import hashlib

import numpy as np

_U64 = np.uint64


def key_int(*parts: object) -> int:
    """A 64-bit integer named by parts."""
    return int.from_bytes(hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) named by parts."""
    return key_int(*parts) / 2**64


def uniforms(key: int, counters: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1), one per counter, for the stream named by key."""
    with np.errstate(over="ignore"):
        z = counters.astype(_U64) * _U64(0x9E3779B97F4A7C15) + _U64(key & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        z ^= z >> _U64(31)
    return (z >> _U64(11)).astype(np.float64) * (1.0 / 2**53)
