from hypothesis import given
from hypothesis import strategies as st

from shared.keys import display_prefix, generate_key, key_hash, looks_like_key, parse_bearer, secrets_equal


def test_generated_keys_look_like_keys_and_are_unique() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    assert all(looks_like_key(key) and len(key) == len("prism_sk_") + 43 for key in keys)


@given(st.text(max_size=100))
def test_parse_bearer_never_raises(value: str) -> None:
    token = parse_bearer(value)
    assert token is None or (token and token == token.strip())


def test_bearer_round_trip() -> None:
    key = generate_key()
    assert parse_bearer(f"Bearer {key}") == key


@given(st.text(), st.text(min_size=1))
def test_hash_depends_on_pepper(key: str, pepper: str) -> None:
    assert key_hash(key, pepper) != key_hash(key, pepper + "x")
    assert len(key_hash(key, pepper)) == 64


def test_display_prefix_is_not_the_key() -> None:
    key = generate_key()
    prefix = display_prefix(key)
    assert key.startswith(prefix) and len(prefix) < len(key) // 2


def test_secrets_equal() -> None:
    assert secrets_equal("abc", "abc")
    assert not secrets_equal("abc", "abd")
    assert not secrets_equal("abc", "ab")
