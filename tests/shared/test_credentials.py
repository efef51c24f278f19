"""Where the Prism key comes from: a bearer token, or Anthropic's ``x-api-key``."""

from shared.credentials import authorization


def test_the_authorization_header_wins_and_x_api_key_is_a_bearer_token() -> None:
    assert authorization({"authorization": "Bearer a", "x-api-key": "b"}) == "Bearer a"
    assert authorization({"x-api-key": " prism_sk_k "}) == "Bearer prism_sk_k"
    assert authorization({"x-api-key": "  "}) is None
    assert authorization({}) is None
