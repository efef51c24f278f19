import pytest

from origin.chat.routing import plan_route
from origin.config import GatewayConfig, parse_config
from origin.http.errors import ApiError

RAW = {
    "providers": {"p": {"kind": "openai", "base_url": "http://x/v1"}},
    "models": {
        "small": {"provider": "p", "fallbacks": ["medium"]},
        "medium": {"provider": "p"},
        "large": {"provider": "p", "fallbacks": ["medium", "small"]},
        "coder": {"provider": "p"},
    },
    "routing": {
        "modes": {"cheap": ["small", "medium"], "balanced": ["medium", "large"], "quality": ["large"]},
        "aliases": {"fast": "small"},
        "task_rules": [
            {"task": "code", "prefer": ["coder"]},
            {"task": "summarize", "prefer": ["small"], "mode": "cheap"},
        ],
    },
}


@pytest.fixture
def config() -> GatewayConfig:
    return parse_config(RAW, {})


def _names(config: GatewayConfig, **kwargs: object) -> list[str]:
    args: dict[str, object] = {"requested": "auto", "mode": "balanced", "task_type": "chat"} | kwargs
    return [m.name for m in plan_route(config, **args).candidates]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["medium", "large"]),
        ({"mode": "cheap"}, ["small", "medium"]),
        ({"mode": "quality"}, ["large"]),
        ({"requested": "small"}, ["small", "medium"]),
        ({"requested": "fast"}, ["small", "medium"]),
        ({"requested": "large"}, ["large", "medium", "small"]),
        ({"prefer": "large"}, ["large", "medium"]),
        ({"prefer": "small"}, ["small", "medium", "large"]),
        ({"prefer": "unknown"}, ["medium", "large"]),
        ({"requested": "small", "prefer": "large"}, ["small", "medium"]),
        ({"task_type": "code"}, ["coder", "medium", "large"]),
        ({"task_type": "summarize"}, ["medium", "large"]),
        ({"task_type": "summarize", "mode": "cheap"}, ["small", "medium"]),
    ],
)
def test_candidate_order(config: GatewayConfig, kwargs: dict[str, object], expected: list[str]) -> None:
    assert _names(config, **kwargs) == expected


def test_denied_models_are_skipped_and_prefer_needs_permission(config: GatewayConfig) -> None:
    allowed = lambda model: model.name != "large"  # noqa: E731
    assert _names(config, allowed=allowed) == ["medium"]
    assert _names(config, allowed=allowed, prefer="large") == ["medium"]
    assert _names(config, requested="large", allowed=allowed) == ["medium", "small"]


def test_unknown_model_is_404(config: GatewayConfig) -> None:
    with pytest.raises(ApiError) as caught:
        plan_route(config, requested="gpt-99", mode="balanced", task_type="chat")
    assert (caught.value.status, caught.value.code, caught.value.param) == (404, "model_not_found", "model")
