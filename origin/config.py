"""Providers, models, prices and routing, from one TOML file (see ``prism.example.toml``)."""

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from origin.providers import ADAPTERS
from origin.providers.base import ModelConfig, Price, ProviderConfig
from origin.providers.embeddings import SemanticConfig, parse_semantic_config
from origin.providers.http1 import Endpoint
from shared.headers import MODES

EXAMPLE_CONFIG: Final = Path(__file__).with_name("prism.example.toml")


class ConfigError(Exception):
    """The config file is malformed; the message names the offending entry."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0
    first_byte: float = 60.0
    idle: float = 60.0


@dataclass(frozen=True, slots=True)
class Retries:
    attempts: int = 2
    backoff_base: float = 0.1
    backoff_max: float = 2.0


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failure_threshold: int = 5
    cooldown_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """``single_flight_wait_seconds``: how long identical requests wait for the one upstream call
    (``None``: as long as the first-byte timeout) before making their own."""

    single_flight_wait_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class TaskRule:
    """When the request's task type matches, move ``prefer`` to the front of the candidates."""

    task: str
    prefer: tuple[str, ...]
    mode: str | None = None


ENDPOINTS: Final = ("chat", "embeddings")


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    providers: Mapping[str, ProviderConfig]
    models: Mapping[str, ModelConfig]
    modes: Mapping[str, tuple[str, ...]]
    aliases: Mapping[str, str] = field(default_factory=dict)
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    task_rules: tuple[TaskRule, ...] = ()
    timeouts: Timeouts = Timeouts()
    retries: Retries = Retries()
    breaker: BreakerConfig = BreakerConfig()
    cache: CacheConfig = CacheConfig()
    semantic: SemanticConfig | None = None

    @property
    def prices(self) -> dict[str, Price]:
        return {name: model.price for name, model in self.models.items()}

    @property
    def single_flight_wait(self) -> float:
        wait = self.cache.single_flight_wait_seconds
        return self.timeouts.first_byte if wait is None else wait


def config_digest(config: GatewayConfig) -> str:
    """A digest of what decides which model answers a request: providers, models, routing.

    Secrets (API keys, provider headers) stay out: rotating a key changes no answer. Timeouts,
    retries and breakers decide how a request is sent, not what it may get, so they stay out too.
    """
    routing = {
        "providers": {
            name: {"kind": provider.kind, "base_url": provider.base_url}
            for name, provider in config.providers.items()
        },
        "models": {name: asdict(model) for name, model in config.models.items()},
        "modes": config.modes,
        "aliases": config.aliases,
        "fallbacks": config.fallbacks,
        "task_rules": [asdict(rule) for rule in config.task_rules],
    }
    canonical = json.dumps(routing, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_config(path: Path | None, api_keys: Mapping[str, str]) -> GatewayConfig:
    source = path or EXAMPLE_CONFIG
    try:
        raw = tomllib.loads(source.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read config {source}: {error}") from None
    return parse_config(raw, api_keys, source=str(source))


def parse_config(
    raw: Mapping[str, Any], api_keys: Mapping[str, str], *, source: str = "config"
) -> GatewayConfig:
    try:
        return _parse(raw, api_keys)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"{source}: malformed entry ({error})") from None


def _responses_api(name: str, entry: Mapping[str, Any], kind: str) -> bool:
    """Whether the provider is sent Responses requests as they came: OpenAI itself by default, an
    OpenAI-compatible server only when the config says so (most serve chat completions only)."""
    default = kind == "openai" and urlsplit(str(entry["base_url"])).hostname == "api.openai.com"
    value = entry.get("responses_api", default)
    if not isinstance(value, bool):
        raise ConfigError(f"providers.{name}: responses_api must be true or false, not {value!r}")
    if value and kind != "openai":
        raise ConfigError(f"providers.{name}: responses_api needs an OpenAI-kind provider, not {kind!r}")
    return value


def _parse(raw: Mapping[str, Any], api_keys: Mapping[str, str]) -> GatewayConfig:
    providers: dict[str, ProviderConfig] = {}
    for name, entry in _table(raw, "providers").items():
        kind = entry.get("kind", name)
        if kind not in ADAPTERS:
            raise ConfigError(
                f"providers.{name}: unknown kind {kind!r} (known: {', '.join(sorted(ADAPTERS))})"
            )
        base_url = str(entry["base_url"]).rstrip("/")
        try:
            Endpoint.parse(base_url)
        except ValueError:
            raise ConfigError(
                f"providers.{name}: base_url must be an http:// or https:// URL with a host, not {base_url!r}"
            ) from None
        providers[name] = ProviderConfig(
            name=name,
            kind=kind,
            base_url=base_url,
            api_key=api_keys.get(name.lower().replace("-", "_")),
            headers=dict(entry.get("headers", {})),
            responses_api=_responses_api(name, entry, kind),
        )

    models: dict[str, ModelConfig] = {}
    fallbacks: dict[str, tuple[str, ...]] = {}
    for name, entry in _table(raw, "models").items():
        if entry["provider"] not in providers:
            raise ConfigError(f"models.{name}: unknown provider {entry['provider']!r}")
        price = entry.get("price", {})
        endpoint = entry.get("endpoint", "chat")
        if endpoint not in ENDPOINTS:
            raise ConfigError(
                f"models.{name}: endpoint must be one of {', '.join(ENDPOINTS)}, not {endpoint!r}"
            )
        models[name] = ModelConfig(
            name=name,
            provider=entry["provider"],
            upstream_model=entry.get("upstream_model", name),
            price=Price(
                input=float(price.get("input", 0)),
                output=float(price.get("output", 0)),
                cached_input=_optional_float(price.get("cached_input")),
                cache_write=_optional_float(price.get("cache_write")),
                cache_write_1h=_optional_float(price.get("cache_write_1h")),
            ),
            endpoint=endpoint,
        )
        fallbacks[name] = tuple(entry.get("fallbacks", ()))
    if not models:
        raise ConfigError("no [models] configured")

    routing = raw.get("routing", {})
    chat_models = tuple(name for name, model in models.items() if model.endpoint == "chat")
    modes = {mode: tuple(routing.get("modes", {}).get(mode, ())) for mode in MODES}
    for mode, names in modes.items():
        if not names:
            modes[mode] = chat_models
    aliases = dict(routing.get("aliases", {}))
    rules = tuple(
        TaskRule(task=rule["task"], prefer=tuple(rule["prefer"]), mode=rule.get("mode"))
        for rule in routing.get("task_rules", ())
    )
    referenced = [*(n for names in modes.values() for n in names), *aliases.values()]
    referenced += [n for names in fallbacks.values() for n in names]
    referenced += [n for rule in rules for n in rule.prefer]
    unknown = sorted(set(referenced) - set(models))
    if unknown:
        raise ConfigError(f"routing names unknown models: {', '.join(unknown)}")
    if set(aliases) & set(models):
        raise ConfigError("an alias may not share its name with a model")
    chat_only = [*(n for names in modes.values() for n in names), *(n for rule in rules for n in rule.prefer)]
    if embedders := sorted(set(chat_only) - set(chat_models)):
        raise ConfigError(f"routing modes and task rules name embeddings models: {', '.join(embedders)}")
    for name, names in fallbacks.items():
        if mixed := [n for n in names if models[n].endpoint != models[name].endpoint]:
            raise ConfigError(f"models.{name}: fallbacks serve another endpoint: {', '.join(mixed)}")

    semantic = parse_semantic_config(raw.get("semantic"))
    if semantic is not None and semantic.provider not in providers:
        raise ConfigError(f"semantic.provider: unknown provider {semantic.provider!r}")

    return GatewayConfig(
        providers=providers,
        models=models,
        modes=modes,
        aliases=aliases,
        fallbacks=fallbacks,
        task_rules=rules,
        timeouts=Timeouts(**raw.get("timeouts", {})),
        retries=Retries(**raw.get("retries", {})),
        breaker=BreakerConfig(**raw.get("breaker", {})),
        cache=CacheConfig(**raw.get("cache", {})),
        semantic=semantic,
    )


def _table(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
