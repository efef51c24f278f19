"""The fake Cloudflare API is faithful enough for the official ``cloudflare`` SDK and for raw HTTP."""

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypedDict

import aiohttp
import cloudflare
import pytest
from cloudflare import AsyncCloudflare

from tests.fakes.cloudflare_api import (
    BANNER,
    DEFAULT_ACCOUNT,
    DEFAULT_NAMESPACE,
    DEFAULT_TOKEN,
    FakeCloudflare,
)

REPO = Path(__file__).resolve().parents[2]


class Ids(TypedDict):
    account_id: str
    namespace_id: str


IDS = Ids(account_id=DEFAULT_ACCOUNT, namespace_id=DEFAULT_NAMESPACE)


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudflare]:
    async with FakeCloudflare() as running:
        yield running


@pytest.fixture
async def sdk(fake: FakeCloudflare) -> AsyncIterator[AsyncCloudflare]:
    client = AsyncCloudflare(api_token=DEFAULT_TOKEN, base_url=fake.base_url, max_retries=0)
    yield client
    await client.close()


def _value_url(fake: FakeCloudflare, name: str) -> str:
    path = f"/accounts/{DEFAULT_ACCOUNT}/storage/kv/namespaces/{DEFAULT_NAMESPACE}/values/{name}"
    return fake.base_url + path


async def test_put_get_delete_with_the_sdk(fake: FakeCloudflare, sdk: AsyncCloudflare) -> None:
    values = sdk.kv.namespaces.values
    assert await values.update("key:abc", value=b'{"active":true}', metadata={"v": 1}, **IDS) is not None
    assert fake.values == {"key:abc": b'{"active":true}'}
    response = await values.get("key:abc", **IDS)
    assert await response.read() == b'{"active":true}'
    assert await sdk.kv.namespaces.metadata.get("key:abc", **IDS) == {"v": 1}
    await values.update("key:abc", value=b"replaced", **IDS)
    assert await (await values.get("key:abc", **IDS)).read() == b"replaced"
    await values.delete("key:abc", **IDS)
    assert fake.values == {}
    await values.delete("key:abc", **IDS)  # deleting a missing name succeeds, as on Cloudflare
    with pytest.raises(cloudflare.NotFoundError):
        await values.get("key:abc", **IDS)


async def test_names_with_reserved_characters_round_trip(fake: FakeCloudflare, sdk: AsyncCloudflare) -> None:
    name = "cache:a/b c%d?e"
    await sdk.kv.namespaces.values.update(name, value=b"x", **IDS)
    assert fake.values == {name: b"x"}
    assert await (await sdk.kv.namespaces.values.get(name, **IDS)).read() == b"x"


async def test_list_by_prefix_with_cursor_pagination(fake: FakeCloudflare, sdk: AsyncCloudflare) -> None:
    for index in range(25):
        fake.put(f"deadletter:{index:02d}", "{}")
    fake.put("key:zzz", "{}")
    fake.put("deadletter-rejected:00", "{}")
    first = await sdk.kv.namespaces.keys.list(
        DEFAULT_NAMESPACE, account_id=DEFAULT_ACCOUNT, prefix="deadletter:", limit=10
    )
    assert [key.name for key in first.result] == [f"deadletter:{i:02d}" for i in range(10)]
    assert first.result_info is not None and first.result_info.cursor
    names = [
        key.name
        async for key in sdk.kv.namespaces.keys.list(
            DEFAULT_NAMESPACE, account_id=DEFAULT_ACCOUNT, prefix="deadletter:", limit=10
        )
    ]
    assert names == [f"deadletter:{i:02d}" for i in range(25)]
    everything = [
        key.name async for key in sdk.kv.namespaces.keys.list(DEFAULT_NAMESPACE, account_id=DEFAULT_ACCOUNT)
    ]
    assert len(everything) == 27
    with pytest.raises(cloudflare.BadRequestError):  # Cloudflare's bounds: 10 ≤ limit ≤ 1000
        await sdk.kv.namespaces.keys.list(DEFAULT_NAMESPACE, account_id=DEFAULT_ACCOUNT, limit=5)


async def test_expiration_ttl_is_honoured(fake: FakeCloudflare, sdk: AsyncCloudflare) -> None:
    values = sdk.kv.namespaces.values
    before = int(fake.now())
    await values.update("cache:short", value=b"1", expiration_ttl=60, **IDS)
    await values.update("cache:long", value=b"2", expiration_ttl=3600, **IDS)
    entry = fake.entry("cache:short")
    assert entry is not None and entry.expiration is not None
    # Whole seconds, as Cloudflare reports them: a second may turn between the write and this line.
    assert before + 60 <= entry.expiration <= int(fake.now()) + 60
    response = await values.with_raw_response.get("cache:short", **IDS)
    assert response.headers["expiration"] == str(entry.expiration)
    fake.advance(61)
    assert set(fake.values) == {"cache:long"}
    with pytest.raises(cloudflare.NotFoundError):
        await values.get("cache:short", **IDS)
    listed = [key async for key in sdk.kv.namespaces.keys.list(DEFAULT_NAMESPACE, account_id=DEFAULT_ACCOUNT)]
    long = fake.entry("cache:long")
    assert long is not None and long.expiration is not None
    assert [(key.name, key.expiration) for key in listed] == [("cache:long", long.expiration)]
    with pytest.raises(cloudflare.BadRequestError):  # KV's minimum TTL is 60 s
        await values.update("cache:tiny", value=b"3", expiration_ttl=30, **IDS)


async def test_a_wrong_token_or_namespace_is_refused(fake: FakeCloudflare) -> None:
    wrong = AsyncCloudflare(api_token="not-the-token", base_url=fake.base_url, max_retries=0)
    try:
        with pytest.raises(cloudflare.PermissionDeniedError) as caught:
            await wrong.kv.namespaces.values.update("key:a", value=b"x", **IDS)
        assert caught.value.status_code == 403
        assert fake.values == {}
    finally:
        await wrong.close()
    right = AsyncCloudflare(api_token=DEFAULT_TOKEN, base_url=fake.base_url, max_retries=0)
    try:
        with pytest.raises(cloudflare.NotFoundError):
            await right.kv.namespaces.values.update(
                "key:a", value=b"x", account_id=DEFAULT_ACCOUNT, namespace_id="elsewhere"
            )
    finally:
        await right.close()


async def test_injected_write_failures_then_recovery(fake: FakeCloudflare, sdk: AsyncCloudflare) -> None:
    fake.fail_writes(2)
    for _ in range(2):
        with pytest.raises(cloudflare.InternalServerError):
            await sdk.kv.namespaces.values.update("key:a", value=b"x", **IDS)
    await sdk.kv.namespaces.values.update("key:a", value=b"x", **IDS)
    assert fake.values == {"key:a": b"x"}
    assert (fake.count("PUT"), fake.request_count) == (3, 3)


async def test_raw_http_reads_and_writes_like_the_local_edge(fake: FakeCloudflare) -> None:
    auth = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    envelope = json.dumps({"body": "{}", "signature": "00", "timestamp": 1}).encode()
    async with aiohttp.ClientSession(headers=auth) as http:
        url = _value_url(fake, "deadletter:123")
        async with http.put(url, data=envelope, headers={"Content-Type": "application/json"}) as response:
            assert response.status == 200
            assert await response.json() == {"success": True, "errors": [], "messages": [], "result": {}}
        async with http.put(
            _value_url(fake, "deadletter:456") + "?expiration_ttl=86400", data=b"x"
        ) as response:
            assert response.status == 200
        async with http.get(url) as response:
            assert (response.status, await response.read()) == (200, envelope)
        async with http.get(_value_url(fake, "cache:missing")) as response:
            body = await response.json()
            assert response.status == 404 and body["success"] is False and body["errors"][0]["code"] == 10009
        async with http.get(url, headers={"Authorization": "Bearer wrong"}) as response:
            assert response.status == 403
    assert fake.values["deadletter:123"] == envelope
    entry = fake.entry("deadletter:456")
    assert entry is not None and entry.expiration is not None


async def test_runs_as_a_local_subprocess() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.cloudflare_api",
        "--port",
        "0",
        "--token",
        "tok-123",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    assert process.stdout is not None
    try:
        banner = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        base_url = banner.removeprefix(BANNER).strip()
        client = AsyncCloudflare(api_token="tok-123", base_url=base_url, max_retries=0)
        try:
            await client.kv.namespaces.values.update("key:a", value=b"x", **IDS)
            assert await (await client.kv.namespaces.values.get("key:a", **IDS)).read() == b"x"
        finally:
            await client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 5)
    assert banner.startswith(BANNER) and base_url.startswith("http://127.0.0.1:")
    assert base_url.endswith("/client/v4")
    assert code == 0
