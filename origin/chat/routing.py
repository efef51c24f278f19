"""Turn (model, mode, preference, task type) into an ordered list of candidate models."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from origin.config import GatewayConfig
from origin.http.errors import ApiError
from origin.providers.base import ModelConfig

AUTO = "auto"


@dataclass(frozen=True, slots=True)
class Route:
    candidates: tuple[ModelConfig, ...]
    mode: str
    task_type: str


def plan_route(
    config: GatewayConfig,
    *,
    requested: str,
    mode: str,
    task_type: str,
    prefer: str | None = None,
    allowed: Callable[[ModelConfig], bool] = lambda model: True,
) -> Route:
    """Candidates in order, denied models already removed (an empty tuple means all were denied)."""
    if requested == AUTO:
        names = list(config.modes[mode])
        for rule in config.task_rules:
            if rule.task == task_type and rule.mode in (None, mode):
                names = _to_front(names, rule.prefer)
        if prefer and prefer in config.models and allowed(config.models[prefer]):
            names = _to_front(names, [prefer])
    else:
        target = config.aliases.get(requested, requested)
        if target not in config.models:
            raise ApiError(
                404,
                f"The model '{requested}' does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        names = [target, *config.fallbacks.get(target, ())]
    models = (config.models[name] for name in dict.fromkeys(names))
    return Route(candidates=tuple(m for m in models if allowed(m)), mode=mode, task_type=task_type)


def _to_front(names: list[str], first: Iterable[str]) -> list[str]:
    front = list(dict.fromkeys(first))
    return front + [name for name in names if name not in front]
