"""Session cookies and CSRF tokens: signed, expiring, bound to their nonce, never interchangeable."""

from origin.dashboard.signing import Session, Signer

SESSION = Session(user_id="u-1", org_id="o-1", expires_at=2_000, nonce="n-1")


def test_a_sealed_session_opens_until_it_expires() -> None:
    signer = Signer("s" * 32)
    cookie = signer.seal(SESSION)
    assert signer.open(cookie, now=1_999) == SESSION
    assert signer.open(cookie, now=2_000) is None


def test_a_changed_cookie_or_another_secret_opens_nothing() -> None:
    signer = Signer("s" * 32)
    payload, signature = signer.seal(SESSION).split(".")
    other = Signer("t" * 32).seal(SESSION)
    forged = Signer("s" * 32).seal(Session("u-2", "o-1", 2_000, "n-1")).split(".")[0] + "." + signature
    for cookie in (other, forged, payload, payload + ".", "", "a.b.c", "é.é", payload + "." + signature[:-2]):
        assert signer.open(cookie, now=0) is None, cookie


def test_csrf_tokens_bind_to_purpose_and_nonce() -> None:
    signer = Signer("s" * 32)
    token = signer.csrf_token("session", "n-1")
    assert signer.csrf_valid(token, "session", "n-1")
    assert not signer.csrf_valid(token, "signin", "n-1")
    assert not signer.csrf_valid(token, "session", "n-2")
    assert not signer.csrf_valid(None, "session", "n-1") and not signer.csrf_valid(token, "session", None)
    assert not Signer("t" * 32).csrf_valid(token, "session", "n-1")
    # A CSRF token is made under another key than cookies: it is no cookie signature.
    assert signer.seal(SESSION).split(".")[1] != signer.csrf_token("session", SESSION.nonce)
