"""How the dashboard writes numbers: dollars from cents, sub-cent amounts kept visible."""

from decimal import Decimal

import pytest

from origin.dashboard.render import money, percent


@pytest.mark.parametrize(
    ("cents", "shown"),
    [
        (0, "$0.00"),
        (None, "$0.00"),
        (Decimal("123456.7"), "$1,234.57"),
        (100, "$1.00"),
        (Decimal("2.5"), "$0.0250"),
        (0.004, "<$0.0001"),
        (Decimal("-250"), "$-2.50"),
    ],
)
def test_money_is_dollars(cents: Decimal | float | None, shown: str) -> None:
    assert money(cents) == shown


def test_percent_and_no_rate() -> None:
    assert (percent(0.7083), percent(None), percent(1.0)) == ("70.8%", "—", "100.0%")
