"""Personal data in a prompt: e-mail addresses, phone numbers, card numbers and IBANs.

A project's PII guard keeps such requests out of Prism's caches and session memory, so personal data
is never stored by the gateway itself (the provider still gets the request). The patterns are meant
to be found, not to be perfect: a card number must pass the Luhn check and an IBAN its mod-97 check,
and a phone number needs a country code or a national shape, so that dates, versions and order
numbers do not count.
"""

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from shared.classify import message_text

EMAIL: Final = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# +CC then 7-14 more digits with optional separators; or (NNN) NNN-NNNN / NNN-NNN-NNNN; or a national
# number starting 0 in groups (030 1234 5678, 020 7946 0958).
# A number inside a longer run of digit groups (a card, an IBAN) is not a phone number.
PHONE: Final = re.compile(
    r"(?<![\w+])(?<!\d[ .-])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,5}"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4}"
    r"|0\d{2,4}[ -]\d{3,4}[ -]\d{3,4}"
    r")(?![\w-])(?![ .]\d)"
)
CARD: Final = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
IBAN: Final = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
KINDS: Final = ("email", "phone", "card", "iban")


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def luhn_valid(number: str) -> bool:
    total = 0
    for index, digit in enumerate(reversed(number)):
        value = int(digit)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rotated = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rotated)) % 97 == 1


def _phone(match: str) -> bool:
    return 9 <= len(_digits(match)) <= 15


def _card(match: str) -> bool:
    return luhn_valid(_digits(match))


def _always(match: str) -> bool:
    return True


_DETECTORS: Final[tuple[tuple[str, re.Pattern[str], Callable[[str], bool]], ...]] = (
    ("email", EMAIL, _always),
    ("phone", PHONE, _phone),
    ("card", CARD, _card),
    ("iban", IBAN, iban_valid),
)

_LONGEST_FIRST: Final = ("email", "iban", "card", "phone")


def found(text: str) -> list[str]:
    """The kinds of personal data in ``text``, in ``KINDS`` order."""
    return [
        kind
        for kind, pattern, valid in _DETECTORS
        if any(valid(match.group()) for match in pattern.finditer(text))
    ]


def redacted(text: str) -> str:
    """``text`` with each piece of personal data replaced by its kind in brackets (``[email]``)."""
    detectors = {detector[0]: detector for detector in _DETECTORS}
    for kind in _LONGEST_FIRST:  # so an IBAN's digits are not taken for a card, nor a card's for a phone
        _, pattern, valid = detectors[kind]
        text = pattern.sub(_masker(kind, valid), text)
    return text


def _masker(kind: str, valid: Callable[[str], bool]) -> Callable[[re.Match[str]], str]:
    def mask(match: re.Match[str]) -> str:
        return f"[{kind}]" if valid(match.group()) else match.group()

    return mask


def has_personal_data(texts: Iterable[str]) -> bool:
    return any(found(text) for text in texts)


def message_texts(messages: Iterable[Any]) -> Iterator[str]:
    """Every text a chat request carries: message content and tool-call arguments."""
    for message in messages:
        yield message_text(message)
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                yield function["arguments"]
