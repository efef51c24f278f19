from pathlib import Path
from typing import Any

import pytest

from origin.config import EXAMPLE_CONFIG, ConfigError, config_digest, load_config, parse_config


def test_example_config_loads_with_keys_from_settings() -> None:
    config = load_config(EXAMPLE_CONFIG, {"openai": "sk-test"})
    assert config.providers["openai"].api_key == "sk-test"
    assert config.providers["anthropic"].api_key is None
    assert config.models["claude-sonnet-4"].upstream_model.startswith("claude-sonnet-4")
    assert config.models["gpt-4o-mini"].price.cached_input == 0.075
    assert set(config.modes) == {"cheap", "balanced", "quality"}


BASE: dict[str, Any] = {
    "providers": {"p": {"kind": "openai", "base_url": "http://x/v1/"}},
    "models": {"m": {"provider": "p"}},
}


EMBEDDER: dict[str, Any] = {"provider": "p", "endpoint": "embeddings"}


def test_embeddings_models_serve_only_embeddings() -> None:
    config = parse_config({**BASE, "models": {**BASE["models"], "e": EMBEDDER}}, {})
    assert (config.models["e"].endpoint, config.models["m"].endpoint) == ("embeddings", "chat")
    assert all(names == ("m",) for names in config.modes.values())  # never a chat candidate


def test_defaults_fill_modes_and_strip_base_url() -> None:
    config = parse_config(BASE, {})
    assert config.modes["cheap"] == ("m",)
    assert config.providers["p"].base_url == "http://x/v1"
    assert config.timeouts.first_byte > 0


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"providers": {"p": {"kind": "nope", "base_url": "http://x"}}}, "unknown kind 'nope'"),
        ({"models": {"m": {"provider": "q"}}}, "unknown provider 'q'"),
        ({"models": {}}, "no [models]"),
        ({"routing": {"modes": {"cheap": ["ghost"]}}}, "unknown models: ghost"),
        ({"routing": {"aliases": {"m": "m"}}}, "alias may not share"),
        ({"timeouts": {"connect": 1, "bogus": 2}}, "malformed entry"),
        ({"models": {"m": {}}}, "malformed entry"),
        (
            {"models": {"m": {"provider": "p", "endpoint": "images"}}},
            "endpoint must be one of chat, embeddings",
        ),
        (
            {"models": {**BASE["models"], "e": EMBEDDER}, "routing": {"modes": {"cheap": ["e"]}}},
            "routing modes and task rules name embeddings models: e",
        ),
        (
            {"models": {"m": {"provider": "p", "fallbacks": ["e"]}, "e": EMBEDDER}},
            "models.m: fallbacks serve another endpoint: e",
        ),
    ],
)
def test_bad_configs_name_the_problem(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**BASE, **change}, {})
    assert fragment in str(caught.value)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[providers\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(path, {})


def test_provider_keys_match_names_with_dashes() -> None:
    raw = {
        "providers": {"my-llm": {"kind": "openai", "base_url": "http://x"}},
        "models": {"m": {"provider": "my-llm"}},
    }
    assert parse_config(raw, {"my_llm": "secret"}).providers["my-llm"].api_key == "secret"


def test_config_digest_follows_routing_and_ignores_secrets_and_timing() -> None:
    routed: dict[str, Any] = {
        **BASE,
        "models": {"m": {"provider": "p"}, "n": {"provider": "p"}},
        "routing": {"aliases": {"fast": "m"}},
    }
    digest = config_digest(parse_config(routed, {}))
    assert digest == config_digest(parse_config(routed, {"p": "sk-other"}))
    assert digest == config_digest(parse_config({**routed, "timeouts": {"connect": 9}}, {}))
    moved = [
        {**routed, "routing": {"aliases": {"fast": "n"}}},
        {**routed, "routing": {**routed["routing"], "modes": {"cheap": ["n", "m"]}}},
        {**routed, "models": {"m": {"provider": "p", "upstream_model": "m-2"}, "n": {"provider": "p"}}},
        {**routed, "models": {"m": {"provider": "p", "price": {"input": 1}}, "n": {"provider": "p"}}},
        {**routed, "providers": {"p": {"kind": "openai", "base_url": "http://y/v1"}}},
        {**routed, "routing": {**routed["routing"], "task_rules": [{"task": "code", "prefer": ["n"]}]}},
    ]
    for raw in moved:
        assert config_digest(parse_config(raw, {})) != digest, raw


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ({"kind": "openai", "base_url": "https://api.openai.com/v1"}, True),
        ({"kind": "openai", "base_url": "https://api.openai.com/v1", "responses_api": False}, False),
        ({"kind": "openai", "base_url": "https://api.groq.com/openai/v1"}, False),
        ({"kind": "openai", "base_url": "http://x/v1", "responses_api": True}, True),
        ({"kind": "anthropic", "base_url": "https://api.anthropic.com"}, False),
    ],
)
def test_only_openai_itself_is_sent_responses_natively_unless_told(
    provider: dict[str, Any], expected: bool
) -> None:
    config = parse_config({**BASE, "providers": {"p": provider}}, {})
    assert config.providers["p"].responses_api is expected


@pytest.mark.parametrize(
    ("provider", "fragment"),
    [
        (
            {"kind": "openai", "base_url": "http://x", "responses_api": "yes"},
            "providers.p: responses_api must be true or false, not 'yes'",
        ),
        (
            {"kind": "anthropic", "base_url": "http://x", "responses_api": True},
            "providers.p: responses_api needs an OpenAI-kind provider, not 'anthropic'",
        ),
    ],
)
def test_a_bad_responses_api_setting_names_the_provider(provider: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**BASE, "providers": {"p": provider}}, {})
    assert fragment in str(caught.value)


@pytest.mark.parametrize("base_url", ["api.openai.com/v1", "ftp://files.example.com", "https://"])
def test_a_base_url_that_is_not_http_names_the_provider(base_url: str) -> None:
    with pytest.raises(ConfigError, match=r"providers\.p: base_url must be an http:// or https:// URL"):
        parse_config({**BASE, "providers": {"p": {"kind": "openai", "base_url": base_url}}}, {})
