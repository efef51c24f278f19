"""scrypt password hashes: salted, self-describing, and never matching a malformed string."""

import pytest

from origin.dashboard.passwords import UNKNOWN_USER_HASH, hash_password, verify_password


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$n=32768,r=8,p=1$")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("same password") != hash_password("same password")


def test_the_parameters_come_from_the_hash_string() -> None:
    cheaper = hash_password("pw").replace("n=32768", "n=16384")
    # Same salt and digest, other cost: the derivation differs, so it must not match.
    assert not verify_password("pw", cheaper)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "scrypt$",
        "bcrypt$n=2,r=1,p=1$AAAA$AAAA",
        "scrypt$n=2**40,r=8,p=1$AAAA$AAAA",
        "scrypt$n=1,r=8,p=1$AA$AA",
    ],
)
def test_a_malformed_hash_never_matches(stored: str) -> None:
    assert not verify_password("pw", stored)


def test_the_unknown_user_hash_is_a_real_hash_of_the_same_cost() -> None:
    assert UNKNOWN_USER_HASH.startswith("scrypt$n=32768,r=8,p=1$") and not verify_password(
        "", UNKNOWN_USER_HASH
    )
