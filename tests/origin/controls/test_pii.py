import pytest

from origin.controls.pii import found, iban_valid, luhn_valid, redacted

POSITIVE = [
    ("write to ada.lovelace@example.co.uk today", ["email"]),
    ("mail: Bob+billing@acme-corp.io", ["email"]),
    ("call +44 20 7946 0958 after six", ["phone"]),
    ("my number is +1 (415) 555-2671", ["phone"]),
    ("US office (415) 555-2671", ["phone"]),
    ("fax 415-555-2671", ["phone"]),
    ("Berlin: 030 1234 5678", ["phone"]),
    ("+491701234567", ["phone"]),
    ("card 4111 1111 1111 1111 exp 12/29", ["card"]),
    ("pay with 5500-0000-0000-0004", ["card"]),
    ("amex 378282246310005", ["card"]),
    ("IBAN DE89 3704 0044 0532 0130 00 please", ["iban"]),
    ("GB82WEST12345698765432", ["iban"]),
    ("reach me at x@y.dev or +33 1 42 68 53 00", ["email", "phone"]),
]

NEGATIVE = [
    "the meeting is on 2026-12-03 at 14:30",
    "upgrade from 1.2.3 to 10.4.12",
    "order ORD-12345678 shipped",
    "4111 1111 1111 1112 fails the Luhn check",
    "DE89 3704 0044 0532 0130 01 fails mod 97",
    "an @mention and user@localhost are not addresses",
    "pi is 3.14159265358979",
    "the total was 1234567 units",
    "ISBN 978-3-16-148410-0",
    "see RFC 9110 section 15.5.1",
]


@pytest.mark.parametrize(("text", "kinds"), POSITIVE)
def test_personal_data_is_found(text: str, kinds: list[str]) -> None:
    assert found(text) == kinds


@pytest.mark.parametrize("text", NEGATIVE)
def test_lookalikes_are_not(text: str) -> None:
    assert found(text) == []


def test_the_checksums() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("DE89370400440532013000") and not iban_valid("DE89370400440532013001")
    assert not iban_valid("DE8937")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("reach me at x@y.dev or +33 1 42 68 53 00", "reach me at [email] or [phone]"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [iban] please"),
        ("card 4111 1111 1111 1111 exp 12/29", "card [card] exp 12/29"),
        ("4111 1111 1111 1112 fails the Luhn check", "4111 1111 1111 1112 fails the Luhn check"),
    ],
)
def test_redacted_masks_each_kind(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize(("text", "kinds"), POSITIVE)
def test_nothing_is_found_once_redacted(text: str, kinds: list[str]) -> None:
    assert found(redacted(text)) == []
