"""The edge's signed forwarding stamp: what the origin accepts as the PoP a request came through."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.edge_forwarded import forwarded_region, is_region, stamp
from shared.signing import sign

SECRET = "forwarding-test-secret"
NOW = 1_800_000_000.0


@given(st.from_regex(r"[A-Za-z0-9-]{1,32}", fullmatch=True), st.integers(-300, 300))
def test_a_stamp_names_its_region_within_the_window(region: str, skew: int) -> None:
    assert forwarded_region(stamp(region, SECRET, now=NOW), SECRET, now=NOW + skew) == region


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "SIN",
        "SIN.1800000000",
        f"SIN.{int(NOW)}.",
        f"SIN.{int(NOW)}.{'0' * 64}",
        f"SIN.x{int(NOW)}.{sign(b'edge-region:SIN', int(NOW), SECRET)}",
        f".{int(NOW)}.{sign(b'edge-region:', int(NOW), SECRET)}",
        # The ingest body's signature over the same bytes is not a region's.
        f"SIN.{int(NOW)}.{sign(b'SIN', int(NOW), SECRET)}",
    ],
)
def test_anything_but_a_stamp_names_no_region(value: str | None) -> None:
    assert forwarded_region(value, SECRET, now=NOW) is None


def test_a_stamp_is_refused_when_stale_forged_or_unverifiable() -> None:
    value = stamp("SIN", SECRET, now=NOW)
    assert forwarded_region(value, SECRET, now=NOW + 301) is None
    assert forwarded_region(value, SECRET, now=NOW - 301) is None
    assert forwarded_region(value, "other-secret", now=NOW) is None
    assert forwarded_region(value.replace("SIN", "FRA", 1), SECRET, now=NOW) is None
    assert forwarded_region(value, "", now=NOW) is None  # no secret configured: nothing is vouched for


def test_a_region_is_a_short_pop_code() -> None:
    assert is_region("SIN") and is_region("dev-1")
    assert not any(is_region(value) for value in ("", "a.b", "Zürich", "x" * 33, "SIN FRA"))
