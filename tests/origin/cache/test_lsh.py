"""The LSH arithmetic: seeded hyperplanes, signatures, the Hamming bound, float32 vectors."""

import math
import random

import pytest

from bench.semantic_scale import perturbed, random_entries
from origin.cache.lsh import Hyperplanes, floats, hamming_limit, unit_vector, vector_bytes


def test_hyperplanes_are_the_same_on_every_instance() -> None:
    vector = random_entries(random.Random(2), 1, 256)[0]
    signature = Hyperplanes(256, seed=1234, bands=20, rows=12).signature(vector)
    assert Hyperplanes(256, seed=1234, bands=20, rows=12).signature(vector) == signature
    assert Hyperplanes(256, seed=99, bands=20, rows=12).signature(vector) != signature
    near = perturbed(random.Random(3), vector, 0.95)
    distance = (Hyperplanes(256, seed=1234, bands=20, rows=12).signature(near) ^ signature).bit_count()
    assert distance <= hamming_limit(240, 0.92)


@pytest.mark.parametrize("vector", [[], [0.0, 0.0], [math.inf, 1.0], [math.nan]])
def test_no_unit_vector_without_a_direction(vector: list[float]) -> None:
    assert unit_vector(vector) is None


def test_vectors_round_trip_as_float32() -> None:
    unit = unit_vector([3.0, 4.0])
    assert unit == (0.6, 0.8)
    assert len(vector_bytes(unit)) == 8
    assert floats(vector_bytes(unit)) == pytest.approx([0.6, 0.8], abs=1e-7)


def test_the_hamming_bound_grows_as_the_threshold_loosens() -> None:
    assert hamming_limit(240, 1.0) == 1
    assert hamming_limit(240, 0.99) < hamming_limit(240, 0.92) < hamming_limit(240, 0.5) < 240
