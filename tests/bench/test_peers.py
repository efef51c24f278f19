"""The peers relay chat completions from the fake provider; LiteLLM is reported when not installed."""

from pathlib import Path

import httpx
import pytest

from bench import peers
from tests.fakes.provider import FakeProvider

BODY = {"model": "bench-model", "messages": [{"role": "user", "content": "hello there"}]}


async def relays_json_and_streams(launch: peers.Launch, workdir: Path, fake: FakeProvider) -> None:
    with peers.started(launch, workdir) as gateway:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(gateway.url, json=BODY, headers=dict(gateway.headers))
            assert answer.status_code == 200, answer.text
            assert answer.json()["choices"][0]["message"]["content"] == "echo: hello there"
            streamed = await http.post(
                gateway.url, json={**BODY, "stream": True}, headers=dict(gateway.headers)
            )
            assert streamed.status_code == 200, streamed.text
            assert streamed.headers["content-type"].startswith("text/event-stream")
            assert streamed.text.rstrip().endswith("data: [DONE]")
    assert fake.count(path="/v1/chat/completions") == 2


async def test_the_passthrough_peer_relays_from_the_fake(tmp_path: Path) -> None:
    async with FakeProvider(seed=1) as fake:
        await relays_json_and_streams(peers.passthrough(fake.url, {"PATH": "/usr/bin:/bin"}), tmp_path, fake)


@pytest.mark.skipif(peers.portkey_missing() is not None, reason=f"Portkey: {peers.portkey_missing()}")
async def test_portkey_relays_a_chat_completion_from_the_fake(tmp_path: Path) -> None:
    async with FakeProvider(seed=2) as fake:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
        await relays_json_and_streams(peers.portkey(fake.url, env), tmp_path, fake)


def test_litellm_absent_from_venv_peers_is_reported_not_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(peers, "LITELLM", tmp_path / ".venv-peers" / "bin" / "litellm")
    assert peers.launches("http://127.0.0.1:9", {}, tmp_path)["litellm"] == "not installed (make bench-peers)"


@pytest.mark.skipif(peers.litellm_missing() is not None, reason=f"LiteLLM: {peers.litellm_missing()}")
async def test_litellm_relays_a_chat_completion_from_the_fake(tmp_path: Path) -> None:
    async with FakeProvider(seed=3) as fake:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
        await relays_json_and_streams(peers.litellm(fake.url, env, tmp_path), tmp_path, fake)
