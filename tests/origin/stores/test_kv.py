"""The KV publisher against the fake Cloudflare API, through the official SDK."""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import cloudflare
import pytest

from origin.config import Retries
from origin.settings import Settings
from origin.stores.kv import OFF_MESSAGE, KVPublisher
from shared.edgekv import EdgeCacheEntry, KeyGrant
from tests.fakes.cloudflare_api import DEFAULT_ACCOUNT, DEFAULT_NAMESPACE, DEFAULT_TOKEN, FakeCloudflare

FAST = Retries(attempts=3, backoff_base=0.001, backoff_max=0.01)
GRANT = KeyGrant(key_id="k1", project_id="p1", org_id="o1", active=True, edge_cache=True)
ENTRY = EdgeCacheEntry(
    response={"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0}]},
    model="alpha",
    tokens_in=3,
    tokens_out=5,
    tokens_cached_in=0,
    cost_cents=0.0042,
)


def kv_settings(base_url: str) -> Settings:
    return replace(
        Settings(),
        cf_api_token=DEFAULT_TOKEN,
        cf_account_id=DEFAULT_ACCOUNT,
        cf_kv_namespace_id=DEFAULT_NAMESPACE,
        cf_api_base_url=base_url,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudflare]:
    async with FakeCloudflare() as running:
        yield running


@pytest.fixture
async def kv(fake: FakeCloudflare) -> AsyncIterator[KVPublisher]:
    publisher = KVPublisher.from_settings(kv_settings(fake.base_url), retries=FAST)
    publisher.start()
    yield publisher
    await publisher.stop()


@pytest.fixture
def kv_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """Records of ``prism.kv``, even after an app in this session turned ``prism`` propagation off."""
    monkeypatch.setattr(logging.getLogger("prism"), "propagate", True)
    caplog.set_level(logging.DEBUG, logger="prism.kv")
    return caplog


async def test_key_grants_and_cache_entries_land_under_their_names(
    fake: FakeCloudflare, kv: KVPublisher
) -> None:
    kv.publish_key("ab" * 32, GRANT)
    kv.publish_cache("fp1", ENTRY, ttl_seconds=300)
    await kv.flush()
    assert KeyGrant.from_json(fake.values["key:" + "ab" * 32]) == GRANT
    assert EdgeCacheEntry.from_json(fake.values["cache:fp1"]) == ENTRY
    assert json.loads(fake.values["cache:fp1"])["cost_cents"] == 0.0042
    key_entry, cache_entry = fake.entry("key:" + "ab" * 32), fake.entry("cache:fp1")
    assert key_entry is not None and key_entry.expiration is None
    assert cache_entry is not None and cache_entry.expiration is not None
    assert abs(cache_entry.expiration - (time.time() + 300)) <= 2


async def test_a_purge_deletes_the_cache_entry(fake: FakeCloudflare, kv: KVPublisher) -> None:
    kv.publish_cache("fp2", ENTRY, ttl_seconds=120)
    await kv.flush()
    kv.delete_cache("fp2")
    await kv.flush()
    assert "cache:fp2" not in fake.values
    assert fake.count("DELETE") == 1


async def test_a_ttl_under_kv_minimum_is_not_published(fake: FakeCloudflare, kv: KVPublisher) -> None:
    kv.publish_cache("short", ENTRY, ttl_seconds=59)
    kv.publish_cache("exact", ENTRY, ttl_seconds=60)
    await kv.flush()
    assert set(fake.values) == {"cache:exact"}
    assert fake.count("PUT") == 1


async def test_queued_writes_of_one_name_coalesce_to_the_latest(fake: FakeCloudflare) -> None:
    publisher = KVPublisher.from_settings(kv_settings(fake.base_url), retries=FAST)
    publisher.publish_key("cd" * 32, GRANT)
    publisher.publish_key("cd" * 32, replace(GRANT, active=False))  # revoked before the create landed
    assert publisher.pending == 1
    publisher.start()
    try:
        await publisher.flush()
    finally:
        await publisher.stop()
    assert KeyGrant.from_json(fake.values["key:" + "cd" * 32]).active is False
    assert fake.count("PUT") == 1


async def test_writes_are_retried_after_server_errors(fake: FakeCloudflare, kv: KVPublisher) -> None:
    fake.fail_writes(2)
    kv.publish_key("ef" * 32, GRANT)
    await kv.flush()
    assert "key:" + "ef" * 32 in fake.values
    assert fake.count("PUT") == 3


async def test_giving_up_logs_the_name_never_the_value(
    fake: FakeCloudflare, kv: KVPublisher, kv_log: pytest.LogCaptureFixture
) -> None:
    fake.fail_writes(3)
    kv.publish_cache("fp-doomed", ENTRY, ttl_seconds=600)
    await kv.flush()
    assert fake.values == {} and fake.count("PUT") == 3
    warnings = [record.getMessage() for record in kv_log.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cache:fp-doomed" in warnings[0] and "HTTP 500" in warnings[0]
    assert "chatcmpl" not in kv_log.text and "alpha" not in kv_log.text
    kv.publish_cache("fp-next", ENTRY, ttl_seconds=600)  # the publisher carries on
    await kv.flush()
    assert set(fake.values) == {"cache:fp-next"}


async def test_a_client_error_is_not_retried(fake: FakeCloudflare, kv: KVPublisher) -> None:
    fake.fail_writes(1, status=400)
    kv.publish_key("01" * 32, GRANT)
    await kv.flush()
    assert fake.count("PUT") == 1 and fake.values == {}


async def test_a_dead_api_never_reaches_the_caller(
    fake: FakeCloudflare, kv_log: pytest.LogCaptureFixture
) -> None:
    await fake.stop()
    publisher = KVPublisher.from_settings(kv_settings(fake.base_url), retries=FAST)
    publisher.start()
    started = time.monotonic()
    publisher.publish_key("23" * 32, GRANT)
    publisher.publish_cache("fp3", ENTRY, ttl_seconds=600)
    publisher.delete_cache("fp4")
    assert time.monotonic() - started < 0.05  # queued, not performed
    await publisher.flush()
    with pytest.raises(cloudflare.APIConnectionError):
        await publisher.publish_key_now("23" * 32, GRANT)
    await publisher.stop()
    warnings = [record.getMessage() for record in kv_log.records if record.levelno == logging.WARNING]
    assert len(warnings) == 3 and all("APIConnectionError" in message for message in warnings)


async def test_stop_gives_up_on_a_backlog_within_its_bound(fake: FakeCloudflare) -> None:
    await fake.stop()
    slow = Retries(attempts=10, backoff_base=5.0, backoff_max=5.0)
    publisher = KVPublisher.from_settings(kv_settings(fake.base_url), retries=slow)
    publisher.start()
    for index in range(5):
        publisher.publish_cache(f"fp{index}", ENTRY, ttl_seconds=600)
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await publisher.stop(timeout=0.2)
    assert time.monotonic() - started < 1.0
    publisher.publish_key("45" * 32, GRANT)  # after stop: ignored, still no exception


async def test_publish_key_now_writes_before_returning(fake: FakeCloudflare) -> None:
    publisher = KVPublisher.from_settings(kv_settings(fake.base_url), retries=FAST)
    fake.fail_writes(1)
    await publisher.publish_key_now("67" * 32, GRANT)  # not started: the CLI's one-shot use
    await publisher.stop()
    assert KeyGrant.from_json(fake.values["key:" + "67" * 32]) == GRANT


async def test_direct_methods_for_the_sweeper(fake: FakeCloudflare, kv: KVPublisher) -> None:
    for index in range(15):
        fake.put(f"deadletter:{index:02d}", f"letter {index}")
    fake.put("deadletter-rejected:99", "old")
    fake.put("key:zz", "{}")
    assert await kv.list_dead_letters(3) == ["deadletter:00", "deadletter:01", "deadletter:02"]
    assert len(await kv.list_dead_letters(100)) == 15
    assert await kv.get("deadletter:07") == "letter 7"
    assert await kv.get("deadletter:nope") is None
    await kv.delete("deadletter:07")
    await kv.put("deadletter-rejected:07", "kept", expiration_ttl=3600)
    assert await kv.get("deadletter:07") is None
    assert fake.values["deadletter-rejected:07"] == b"kept"


async def test_cloudflare_variables_in_the_environment_do_not_change_auth(
    fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "someone@example.com")
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "a-global-key")
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "http://127.0.0.1:9/client/v4")
    publisher = KVPublisher.from_settings(kv_settings(fake.base_url), retries=FAST)
    try:
        await publisher.publish_key_now("89" * 32, GRANT)
    finally:
        await publisher.stop()
    assert "key:" + "89" * 32 in fake.values


async def test_without_settings_the_publisher_is_off_and_says_so_once(
    kv_log: pytest.LogCaptureFixture,
) -> None:
    publisher = KVPublisher.from_settings(Settings())
    publisher.start()
    publisher.publish_key("ab" * 32, GRANT)
    publisher.publish_cache("fp", ENTRY, ttl_seconds=600)
    publisher.delete_cache("fp")
    await publisher.flush()
    await publisher.publish_key_now("ab" * 32, GRANT)
    assert await publisher.list_dead_letters(10) == []
    assert await publisher.get("deadletter:x") is None
    await publisher.delete("deadletter:x")
    await publisher.stop()
    assert not publisher.enabled and publisher.pending == 0
    assert [record.getMessage() for record in kv_log.records] == [OFF_MESSAGE]
    assert kv_log.records[0].levelno == logging.INFO
