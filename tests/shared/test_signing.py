from shared.signing import MAX_SKEW_SECONDS, sign, verify

SECRET = "s" * 32


def test_valid_signature_verifies() -> None:
    body = b'{"row": 1}'
    assert verify(body, "1000", sign(body, 1000, SECRET), SECRET, now=1000)


def test_tampered_body_wrong_secret_and_stale_timestamp_fail() -> None:
    body = b'{"row": 1}'
    signature = sign(body, 1000, SECRET)
    assert not verify(b'{"row": 2}', "1000", signature, SECRET, now=1000)
    assert not verify(body, "1000", signature, SECRET + "x", now=1000)
    assert not verify(body, "1000", signature, SECRET, now=1000 + MAX_SKEW_SECONDS + 1)
    assert not verify(body, "1001", signature, SECRET, now=1000)


def test_malformed_inputs_fail_without_raising() -> None:
    body = b"{}"
    for timestamp, signature in [(None, "x"), ("12", None), ("-5", "x"), ("²", "x"), ("1e3", "x")]:
        assert not verify(body, timestamp, signature, SECRET, now=0)
