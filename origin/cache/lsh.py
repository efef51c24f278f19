"""Random-hyperplane LSH for the semantic cache: unit vectors, their signatures, the Hamming bound.

Pure arithmetic, no I/O: ``origin.cache.semantic`` keeps the entries in Redis and searches them with
these signatures. Vectors travel as float32 little-endian bytes on every platform.
"""

import math
import random
import sys
from array import array
from collections.abc import Sequence
from typing import Final

VERSION: Final = "prism-sem-1"
HAMMING_MARGIN: Final = 3.0
SQRT2: Final = math.sqrt(2.0)

UnitVector = tuple[float, ...]


def unit_vector(vector: Sequence[float]) -> UnitVector | None:
    """The vector scaled to length 1, or None for an empty, zero or non-finite one."""
    if not vector:
        return None
    norm = math.hypot(*vector)
    if not math.isfinite(norm) or norm == 0.0:
        return None
    return tuple(value / norm for value in vector)


def hamming_limit(bits: int, threshold: float) -> int:
    """Signature bits a vector at ``threshold`` cosine differs in, plus a 3-sigma margin.

    Each bit differs with probability ``angle / pi`` (Charikar), independently across hyperplanes;
    the extra bit absorbs float rounding next to a hyperplane.
    """
    p = math.acos(max(-1.0, min(1.0, threshold))) / math.pi
    return math.ceil(bits * p + HAMMING_MARGIN * math.sqrt(bits * p * (1.0 - p))) + 1


class Hyperplanes:
    """``bands * rows`` seeded random unit hyperplanes in ``dims`` dimensions.

    For unit ``h`` and ``v``, ``h·v > 0`` exactly when ``|h - v| < √2``, and ``math.dist`` loops in
    C: signing a 1536-dimension vector stays around a millisecond without numpy.
    """

    def __init__(self, dims: int, *, seed: int, bands: int, rows: int) -> None:
        rng = random.Random(f"{VERSION}:{seed}:{dims}")
        planes: list[UnitVector] = []
        while len(planes) < bands * rows:
            if (plane := unit_vector([rng.gauss(0.0, 1.0) for _ in range(dims)])) is not None:
                planes.append(plane)
        self._planes = planes
        self.bands = bands
        self.rows = rows
        self.signature_bytes = (bands * rows + 7) // 8

    def signature(self, unit: Sequence[float]) -> int:
        """One bit per hyperplane, band 0 in the highest bits."""
        bits = 0
        for plane in self._planes:
            bits = (bits << 1) | (math.dist(plane, unit) < SQRT2)
        return bits

    def codes(self, signature: int) -> list[int]:
        """The ``rows``-bit code of each band."""
        mask = (1 << self.rows) - 1
        return [(signature >> (self.rows * (self.bands - 1 - band))) & mask for band in range(self.bands)]


def floats(blob: bytes) -> list[float]:
    values = array("f", blob)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


def vector_bytes(unit: UnitVector) -> bytes:
    values = array("f", unit)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()
