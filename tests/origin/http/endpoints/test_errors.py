"""Bad input: a clear 4xx in OpenAI's shape, never a 5xx, and (after auth) always a usage row."""

import asyncio
import json
import logging
from typing import Any

import aiohttp
import openai
import pytest

from origin.ops.logs import JsonFormatter
from origin.stores import postgres
from tests.harness import RunningOrigin
from tests.origin.helpers import client, usage_row

HELLO = [{"role": "user", "content": "hi"}]
GOOD = {"model": "alpha", "messages": HELLO}


async def _post(
    origin: RunningOrigin, key: str, data: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            origin.url + "/v1/chat/completions",
            data=data,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **(headers or {})},
        ) as response,
    ):
        return response.status, await response.json(content_type=None), response.headers


def _assert_openai_shape(body: Any, code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "code", "param"}
    assert body["error"]["code"] == code and body["error"]["message"]


BAD_INPUT = [
    (b"{not json", {}, 400, "invalid_json"),
    (b"", {}, 400, "invalid_json"),
    (b'{"model": "alpha", "messages": NaN}', {}, 400, "invalid_json"),
    (b"[1, 2]", {}, 400, "invalid_body"),
    (json.dumps({"model": "alpha"}).encode(), {}, 400, "invalid_type"),
    (json.dumps({"model": 5, "messages": HELLO}).encode(), {}, 400, "invalid_type"),
    (
        json.dumps({**GOOD, "messages": [{"role": "wizard", "content": "x"}]}).encode(),
        {},
        400,
        "invalid_value",
    ),
    (json.dumps({**GOOD, "max_tokens": -1}).encode(), {}, 400, "invalid_type"),
    (json.dumps({**GOOD, "temperature": "hot"}).encode(), {}, 400, "invalid_type"),
    (json.dumps({**GOOD, "stream": "yes"}).encode(), {}, 400, "invalid_type"),
    (json.dumps({**GOOD, "n": 100}).encode(), {}, 400, "invalid_type"),
    (json.dumps({**GOOD, "model": "gpt-99"}).encode(), {}, 404, "model_not_found"),
    (json.dumps(GOOD).encode(), {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    (json.dumps(GOOD).encode(), {"X-Prism-Session": "has spaces inside"}, 400, "invalid_session_header"),
    (json.dumps(GOOD).encode(), {"X-Prism-Session": "x" * 200}, 400, "invalid_session_header"),
    (json.dumps(GOOD).encode(), {"X-Prism-Mode": "turbo"}, 400, "invalid_mode_header"),
    (
        b'{"model": "alpha", "messages": ['
        + b'{"role": "user", "content": "'
        + b"x" * (5 * 1024 * 1024)
        + b'"}]}',
        {},
        413,
        "request_too_large",
    ),
    (b"[" * 100_000, {}, 400, "invalid_json"),
    # Each of these was a 500 once: numbers that overflow, lone surrogates, deep nesting, odd roles.
    (
        b'{"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "logit_bias": {"1": 1e999}}',
        {},
        400,
        "invalid_json",
    ),
    (
        b'{"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "extra": -1e999}',
        {},
        400,
        "invalid_json",
    ),
    (b'{"model": "alpha", "messages": [{"role": "user", "content": "\\ud800"}]}', {}, 400, "invalid_json"),
    (
        b'{"model": "alpha", "messages": [{"role": "user", "content": "\\ud800"}]}',
        {"Cache-Control": "no-store"},
        400,
        "invalid_json",
    ),
    (
        b'{"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "x": '
        + b"[" * 700
        + b"]" * 700
        + b"}",
        {},
        400,
        "invalid_json",
    ),
    (
        b'{"model": "alpha", "messages": [{"role": "user", "content": [' + b"[" * 600 + b"]" * 600 + b"]}]}",
        {},
        400,
        "invalid_json",
    ),
    (
        b'{"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "tools": ['
        + b'{"a":' * 900
        + b"1"
        + b"}" * 900
        + b"]}",
        {},
        400,
        "invalid_json",
    ),
    (
        json.dumps({**GOOD, "messages": [{"role": ["user"], "content": "x"}]}).encode(),
        {},
        400,
        "invalid_value",
    ),
    (
        json.dumps({**GOOD, "messages": [{"role": {"r": 1}, "content": "x"}]}).encode(),
        {},
        400,
        "invalid_value",
    ),
    (json.dumps({**GOOD, "stream_options": {"include_usage": ""}}).encode(), {}, 400, "invalid_type"),
    (json.dumps({**GOOD, "stream_options": {"include_usage": {}}}).encode(), {}, 400, "invalid_type"),
    (json.dumps(GOOD).encode(), {"X-Prism-Semantic": "bogus"}, 400, "invalid_semantic_header"),
    (json.dumps(GOOD).encode(), {"X-Prism-Cache-TTL": "9" * 5000}, 400, "invalid_cache_ttl_header"),
    (json.dumps(GOOD).encode(), {"X-Prism-Model-Prefer": "x" * 500}, 400, "invalid_model_prefer_header"),
]


@pytest.mark.parametrize(
    ("data", "headers", "status", "code"), BAD_INPUT, ids=[c[3] + str(i) for i, c in enumerate(BAD_INPUT)]
)
async def test_bad_input_is_a_clear_4xx_with_a_row(
    origin: RunningOrigin,
    api_key: str,
    pool: postgres.Pool,
    data: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    got_status, body, response_headers = await _post(origin, api_key, data, headers)
    assert got_status == status, body
    _assert_openai_shape(body, code)
    row = await usage_row(origin, pool, response_headers["x-prism-request-id"])
    assert (row["success"], row["status_code"], row["error_code"]) == (False, status, code)


async def test_tags_with_ten_thousand_pairs_keep_ten(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool
) -> None:
    tags = ",".join(f"k{i}=v{i}" for i in range(10_000))
    status, _, response_headers = await _post(
        origin, api_key, json.dumps(GOOD).encode(), {"X-Prism-Tags": tags}
    )
    assert status == 200
    row = await usage_row(origin, pool, response_headers["x-prism-request-id"])
    assert len(json.loads(row["request_tags"])) == 10


async def test_headers_beyond_the_limit_are_431(origin: RunningOrigin, api_key: str) -> None:
    status, _, _ = await _post(
        origin, api_key, json.dumps(GOOD).encode(), {"X-Prism-Tags": "a=" + "x" * 200_000}
    )
    assert status == 431


async def test_crlf_in_a_header_never_reaches_a_5xx(origin: RunningOrigin, api_key: str) -> None:
    host, port = origin.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps(GOOD).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + api_key.encode()
        + b"\r\n"
        b"X-Prism-Tags: a=1\r\r\nb=2\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.split()[1].startswith(b"4")


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "missing_api_key"),
        ("Basic abc", "missing_api_key"),
        ("Bearer sk-not-prism", "invalid_api_key"),
        ("Bearer prism_sk_" + "A" * 43, "invalid_api_key"),
    ],
)
async def test_bad_keys_are_401(origin: RunningOrigin, authorization: str | None, code: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(origin.url + "/v1/chat/completions", json=GOOD, headers=headers) as response:
            assert response.status == 401
            _assert_openai_shape(await response.json(), code)


async def test_official_client_maps_statuses(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool
) -> None:
    with pytest.raises(openai.AuthenticationError):
        await client(origin, "prism_sk_" + "B" * 43).chat.completions.create(model="alpha", messages=HELLO)
    with pytest.raises(openai.NotFoundError):
        await client(origin, api_key).chat.completions.create(model="nope", messages=HELLO)
    with pytest.raises(openai.BadRequestError):
        await client(origin, api_key).chat.completions.create(model="alpha", messages=[])


async def test_revoked_key_stops_within_five_seconds(origin: RunningOrigin, pool: postgres.Pool) -> None:
    from origin.controls.auth import forget_keys

    key, record = await postgres.create_key(
        pool, project="revoke-me", org="tests", pepper=origin.state.settings.key_pepper
    )
    prism = client(origin, key)
    await prism.chat.completions.create(model="alpha", messages=HELLO)
    hashes = [item.key_hash for item in await postgres.revoke_keys(pool, record.prefix)]
    await forget_keys(origin.state.redis, hashes)
    await asyncio.sleep(1.1)  # the in-process cache lives one second
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        await prism.chat.completions.create(model="alpha", messages=HELLO)


async def test_unknown_route_and_method_are_openai_shaped(origin: RunningOrigin) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(origin.url + "/v1/nothing") as response:
            assert response.status == 404
            _assert_openai_shape(await response.json(), "not_found")
        async with session.get(origin.url + "/v1/chat/completions") as response:
            assert response.status == 405
            _assert_openai_shape(await response.json(), "method_not_allowed")


async def test_a_chunked_upload_past_the_limit_gets_its_413(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool
) -> None:
    """100 MB without Content-Length: the client reads a 413, not a reset connection."""

    async def chunks() -> Any:
        yield b'{"model": "alpha", "messages": [{"role": "user", "content": "'
        piece = b"x" * (1024 * 1024)
        for _ in range(100):
            yield piece
        yield b'"}]}'

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            origin.url + "/v1/chat/completions",
            data=chunks(),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 413
        body = await response.json()
        _assert_openai_shape(body, "request_too_large")
        request_id = response.headers["x-prism-request-id"]
    row = await usage_row(origin, pool, request_id)
    assert (row["status_code"], row["error_code"]) == (413, "request_too_large")


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_an_unexpected_error_is_the_one_500_with_a_row_and_a_traceback_in_the_log(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "the prompt's secret text"

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(secret)

    monkeypatch.setattr(origin.state.pipeline._dispatcher, "complete", broken)
    handler = Recorder()
    records = handler.records
    errors_log = logging.getLogger("prism.errors")
    errors_log.addHandler(handler)
    try:
        status, body, headers = await _post(
            origin, api_key, json.dumps({**GOOD, "messages": [{"role": "user", "content": secret}]}).encode()
        )
    finally:
        errors_log.removeHandler(handler)
    assert status == 500
    _assert_openai_shape(body, "internal_error")
    assert secret not in json.dumps(body)
    row = await usage_row(origin, pool, headers["x-prism-request-id"])
    assert (row["status_code"], row["error_code"]) == (500, "internal_error")
    [record] = records
    logged = JsonFormatter().format(record)
    assert record.error == "RuntimeError" and record.request_id == headers["x-prism-request-id"]  # type: ignore[attr-defined]
    assert any("broken" in frame for frame in record.traceback)  # type: ignore[attr-defined]
    assert secret not in logged
