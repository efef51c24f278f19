import aiohttp

from tests.harness import RunningOrigin
from tests.origin.helpers import client


async def test_healthz_and_readyz(origin: RunningOrigin) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(origin.url + "/healthz") as response:
            assert response.status == 200
        async with session.get(origin.url + "/readyz") as response:
            body = await response.json()
            assert response.status == 200, body
            assert body["checks"]["redis"] == "ok" and body["checks"]["postgres"] == "ok"


async def test_metrics_report_requests_and_writer(origin: RunningOrigin, api_key: str) -> None:
    await client(origin, api_key).chat.completions.create(
        model="beta", messages=[{"role": "user", "content": "m"}]
    )
    async with aiohttp.ClientSession() as session, session.get(origin.url + "/metrics") as response:
        text = await response.text()
    assert 'prism_requests_total{model="beta",status="200"}' in text
    assert "prism_usage_queue_depth" in text and "prism_usage_spool_rows" in text
    assert "prism_upstream_latency_seconds_bucket" in text
