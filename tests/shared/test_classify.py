import pytest

from shared.classify import classify


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write a python function that reverses a list", "code"),
        ("```js\nconsole.log(1)\n```", "code"),
        ("Summarize this article in three bullets", "summarize"),
        ("tl;dr please", "summarize"),
        ("Extract the invoice number and total", "extract"),
        ("Translate 'good morning' to French", "translate"),
        ("How are you today?", "chat"),
    ],
)
def test_classify_last_user_message(text: str, expected: str) -> None:
    assert (
        classify([{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]) == expected
    )


def test_parts_and_response_format() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]
    assert classify(messages) == "chat"
    assert classify(messages, response_format={"type": "json_object"}) == "extract"
    assert classify([]) == "chat"
