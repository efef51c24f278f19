"""The per-session prompt_cache_key: stable for a session, distinct across sessions and projects,
never the session id itself, and never over a key the client chose."""

from origin.chat.prompt_cache import FIELD, session_cache_key, with_session_cache_key

SECRET = b"pepper"


def test_one_session_one_key_and_the_id_is_not_in_it() -> None:
    key = session_cache_key(SECRET, "project-a", "conv-1")
    assert key == session_cache_key(SECRET, "project-a", "conv-1")
    assert key.startswith("prism-") and len(key) == 38
    assert "conv-1" not in key
    assert key != session_cache_key(SECRET, "project-a", "conv-2")
    assert key != session_cache_key(SECRET, "project-b", "conv-1")
    assert key != session_cache_key(b"another pepper", "project-a", "conv-1")


def test_the_separator_keeps_project_and_session_apart() -> None:
    assert session_cache_key(SECRET, "ab", "c") != session_cache_key(SECRET, "a", "bc")


def test_added_only_with_a_session_and_without_the_clients_own() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    added = with_session_cache_key(body, secret=SECRET, project_id="p", session_id="s")
    assert added[FIELD] == session_cache_key(SECRET, "p", "s")
    assert FIELD not in body  # the caller's body is not changed
    assert with_session_cache_key(body, secret=SECRET, project_id="p", session_id=None) is body
    own = {**body, FIELD: "client-chosen"}
    assert with_session_cache_key(own, secret=SECRET, project_id="p", session_id="s") == own
