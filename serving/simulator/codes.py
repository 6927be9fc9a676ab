"""Coupon codes that are unique by construction and look random.

A keyed Feistel network permutes the 60-bit code id, so distinct ids give distinct codes
without remembering the codes already handed out (memory stays flat at a million customers),
and without the key the next code cannot be guessed from the last.
"""

import numpy as np

_ALPHABET = np.array(list("0123456789ABCDEFGHJKMNPQRSTVWXYZ"))  # Crockford base32
_HALF_BITS = 30
_MASK = np.uint64((1 << _HALF_BITS) - 1)
_ROUNDS = 4
_MULT = np.uint64(0x9E3779B97F4A7C15)


def code_key(seed: int) -> np.ndarray:
    """Round keys for a seed (the simulator draws them from its own random stream)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xC0DE,)))
    return rng.integers(0, 1 << _HALF_BITS, _ROUNDS, dtype=np.uint64)


def _permute(ids: np.ndarray, key: np.ndarray) -> np.ndarray:
    x = ids.astype(np.uint64)
    left, right = x >> np.uint64(_HALF_BITS), x & _MASK
    for k in key:
        mixed = ((right ^ k) * _MULT) >> np.uint64(34)
        left, right = right, (left ^ mixed) & _MASK
    return (left << np.uint64(_HALF_BITS)) | right


def coupon_codes(ids: np.ndarray, key: np.ndarray) -> list[str]:
    """'XXXX-XXXX-XXXX' codes for code ids (each id < 2**60 gives its own code)."""
    if len(ids) == 0:
        return []
    v = _permute(np.asarray(ids), key)
    shifts = np.arange(55, -1, -5, dtype=np.uint64)
    digits = ((v[:, None] >> shifts[None, :]) & np.uint64(31)).astype(np.int64)
    chars = _ALPHABET[digits]
    dash = np.full((len(v), 1), "-")
    grid = np.hstack([chars[:, :4], dash, chars[:, 4:8], dash, chars[:, 8:]])
    return np.ascontiguousarray(grid).view("<U14").ravel().tolist()
