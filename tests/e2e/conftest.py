"""The whole topology on loopback: local edge (the real Worker in Pyodide) → origin → fake provider,
with real Redis and Postgres and the fake Cloudflare KV API."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import openai
import pytest

from origin.config import config_digest
from origin.controls.grants import publish_project_grants
from origin.settings import Settings
from origin.stores import controls, postgres
from tests.e2e.proxy import CountingProxy
from tests.edge.local_edge import LocalEdge
from tests.fakes.cloudflare_api import FakeCloudflare
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin, running_origin
from tests.origin.helpers import gateway_settings, run_cli


@dataclass
class Topology:
    origin: RunningOrigin
    proxy: CountingProxy
    edge: LocalEdge
    cloudflare: FakeCloudflare
    pool: postgres.Pool

    def client(self, key: str, **headers: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.edge.url + "/v1",
            api_key=key,
            max_retries=0,
            timeout=30,
            default_headers=headers or None,
        )

    async def key(self, **project: Any) -> tuple[str, postgres.KeyRecord]:
        """A key of a new project with these settings (``ProjectSettings`` names), its grant published."""
        settings = self.origin.state.settings
        key, record = await postgres.create_key(
            self.pool, project=f"e2e-{uuid.uuid4().hex[:8]}", org="e2e", pepper=settings.key_pepper
        )
        if project:
            await controls.update_project_settings(self.pool, record.project_id, project)
        digest = config_digest(self.origin.state.config)
        await publish_project_grants(self.pool, self.origin.state.kv, record.project_id, config_digest=digest)
        return key, record

    async def cli(self, *args: str) -> str:
        """``prism ARGS`` as the operator runs it, on the origin's stores, Workers KV and config."""
        done = await asyncio.to_thread(run_cli, self.origin.state.settings, *args)
        assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
        return done.stdout

    async def edge_hit(self, key: str, question: str, **create: Any) -> None:
        """Ask twice: a miss the origin publishes, then the same answer from the PoP."""
        messages = [{"role": "user", "content": question}]
        first = await self.ask(key, messages, **create)
        assert first.headers["x-prism-cache"] == "miss"
        await self.origin.state.kv.flush()
        assert (await self.ask(key, messages, **create)).headers["x-prism-edge-cache"] == "hit"

    async def ask(self, key: str, messages: list[dict[str, str]], **create: Any) -> Any:
        create = {"model": "beta", **create}
        return await self.client(key).chat.completions.with_raw_response.create(messages=messages, **create)

    async def rows(self, request_ids: list[str], seconds: float = 40.0) -> dict[str, dict[str, Any]]:
        """The usage rows of these requests, waiting until all of them have arrived."""
        found: dict[str, dict[str, Any]] = {}
        for _ in range(int(seconds * 10)):
            await self.origin.state.writer.flush()
            records = await self.pool.fetch(
                "SELECT * FROM usage_logs WHERE request_id = ANY($1::uuid[])", request_ids
            )
            found = {str(record["request_id"]): dict(record) for record in records}
            if len(found) == len(request_ids):
                return found
            await asyncio.sleep(0.1)
        return found


@pytest.fixture(scope="module")
async def topology(
    base_settings: Settings, pool: postgres.Pool, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Topology]:
    provider, cloudflare = FakeProvider(), FakeCloudflare()
    provider_url, kv_url = await provider.start(), await cloudflare.start()
    settings = gateway_settings(
        replace(
            base_settings,
            cf_api_token=cloudflare.token,
            cf_account_id=cloudflare.account_id,
            cf_kv_namespace_id=cloudflare.namespace_id,
            cf_api_base_url=kv_url,
            dead_letter_sweep_seconds=0.5,
        ),
        provider_url,
        tmp_path_factory.mktemp("e2e"),
    )
    try:
        async with running_origin(settings) as origin:
            proxy = CountingProxy(origin.url)
            await proxy.start()
            try:
                async with LocalEdge(
                    origin_url=proxy.url,
                    kv_base_url=kv_url,
                    account=cloudflare.account_id,
                    namespace=cloudflare.namespace_id,
                    token=cloudflare.token,
                    pepper=settings.key_pepper,
                    ingest_secret=settings.ingest_secret,
                    colo="SIN",
                ) as edge:
                    yield Topology(origin, proxy, edge, cloudflare, pool)
            finally:
                await proxy.stop()
    finally:
        await provider.stop()
        await cloudflare.stop()
