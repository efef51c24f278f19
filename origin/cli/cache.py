"""``prism cache report``: what the providers' prompt caches did for a project (the API's
``GET /v1/usage/provider-cache``; ``--format json`` prints exactly its body). ``prism cache erase``:
what Prism keeps for a project, erased as ``DELETE /v1/cache`` does, printing the same body.
"""

import argparse
from typing import Any

import redis.asyncio as redis

from origin.admin.operations import find_project
from origin.cache.erasure import CacheIndex, Selector, parse_selector
from origin.cache.memory import SessionMemory
from origin.cache.residency import residency
from origin.chat.prefix_survey import PrefixSurvey
from origin.cli.common import CliError, Commands, connect
from origin.cli.usage import option_params, print_json, scope_options, scoped
from origin.config import load_config
from origin.settings import Settings
from origin.stores import controls, warmups
from origin.stores.kv import KVPublisher
from origin.stores.redis_client import connect as connect_redis
from origin.usage.filters import FilterError, parse_window
from origin.usage.provider_cache import ProviderCacheReport, provider_cache


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def _print_report(report: ProviderCacheReport) -> None:
    body: dict[str, Any] = report.to_json()
    sessions, prefixes, stampedes = body["sessions"], body["prefixes"], body["stampedes"]
    print(
        f"requests {body['requests']}  cached share {_percent(body['cached_share'])}  "
        f"writes {body['tokens_cache_write_5m']} (5 min) {body['tokens_cache_write_1h']} (1 h)"
    )
    print(
        f"sessions {sessions['count']}  cold turns {sessions['cold_turns']}  "
        f"long sessions {sessions['long_sessions']}: cached share "
        f"{_percent(sessions['long_session_cached_share'])}, cold turns {sessions['long_session_cold_turns']}"
    )
    for session in sessions["worst"]:
        if session["cold_turns"]:
            turns = " ".join(_percent(share) for share in session["cached_share_per_turn"])
            print(
                f"  session {session['session_id']}:"
                f" {session['cold_turns']} cold of {session['turns']} turns: {turns}"
            )
    print(f"prefixes {prefixes['distinct']} distinct over {prefixes['requests']} requests")
    if prefixes["per_user"]:
        print(
            "  the prefix differs per user: each one is written cold;"
            f" at least {prefixes['per_user_lost_cents']:.4f} cents lost"
        )
    for divergence in prefixes["diverge"]:
        print(
            f"  {divergence['prefixes']} prefixes of {divergence['project_id']} part at token"
            f" {divergence['at_token']}: {divergence['excerpt']}"
        )
    for prefix in prefixes["busiest"]:
        print(
            f"  {prefix['fingerprint'][:12]} {prefix['model']}: {prefix['requests']} requests"
            f" ({_percent(prefix['share_of_traffic'])}), {prefix['prefix_tokens']} tokens,"
            f" cached share {_percent(prefix['cached_share'])}"
        )
    print(
        f"stampedes {stampedes['count']}  requests {stampedes['requests']}"
        f"  extra {stampedes['extra_cents']:.4f} cents"
    )
    for change in body["changes"]:
        flag = "  cached share dropped" if change["dropped"] else ""
        print(
            f"version {change['model']}: {change['from']} -> {change['to']} at {change['changed_at']},"
            f" cached share {_percent(change['cached_share_before'])}"
            f" -> {_percent(change['cached_share_after'])}{flag}"
        )
    for stampede in stampedes["worst"]:
        print(
            f"  {stampede['started']} {stampede['fingerprint'][:12]} {stampede['model']}:"
            f" {stampede['requests']} in {stampede['duration_ms']} ms,"
            f" {stampede['extra_cents']:.4f} cents extra"
        )


async def _cache_report(args: argparse.Namespace, settings: Settings) -> int:
    prices = load_config(settings.config_path, settings.provider_api_keys).prices
    params = option_params(args, ("since", "until"))
    redis_client = connect_redis(settings.redis_url, socket_timeout=5, connect_timeout=2)
    try:
        async with scoped(args, settings) as (pool, scope):
            survey = PrefixSurvey(redis_client)
            report = await provider_cache(
                pool, scope, parse_window(params), prices, survey, settings.warmup_grace_seconds
            )
    finally:
        await redis_client.aclose()
    if args.format == "json":
        print_json(report.to_json())
    else:
        _print_report(report)
    return 0


def _selector(args: argparse.Namespace) -> Selector:
    params = (
        [("all", "true")]
        if args.all
        else [("session", args.session)]
        if args.session
        else [("tag", args.tag)]
    )
    try:
        return parse_selector(params)
    except FilterError as error:
        raise CliError(f"--{error.param}: {error}") from None


async def _cache_erase(args: argparse.Namespace, settings: Settings) -> int:
    selector = _selector(args)
    async with connect(settings) as pool:
        project = await find_project(pool, args.org, args.project)
    redis_client = connect_redis(settings.redis_url, socket_timeout=5, connect_timeout=2)
    kv = KVPublisher.from_settings(settings)
    kv.start()
    try:
        index = CacheIndex(redis_client, SessionMemory(redis_client), kv)
        try:
            deleted = await index.erase(project.project_id, selector)
        except (OSError, redis.RedisError) as error:
            raise CliError(f"Redis unreachable ({type(error).__name__}); nothing was erased") from None
        await kv.flush()
    finally:
        await kv.stop()
        await redis_client.aclose()
    print_json({"object": "cache.deleted", "deleted": deleted})
    return 0


async def _cache_residency(args: argparse.Namespace, settings: Settings) -> int:
    config = load_config(settings.config_path, settings.provider_api_keys)
    async with connect(settings) as pool:
        ref = await find_project(pool, args.org, args.project)
        project = (await controls.load_controls(pool, ref.org_id, ref.project_id)).settings
    redis_client = connect_redis(settings.redis_url, socket_timeout=5, connect_timeout=2)
    memory = SessionMemory(redis_client)
    try:
        indexed = await CacheIndex(redis_client, memory, None).listed(ref.project_id)
    except (OSError, redis.RedisError) as error:
        raise CliError(f"Redis unreachable ({type(error).__name__})") from None
    finally:
        await redis_client.aclose()
    report = residency(
        ref.project_id,
        project,
        settings,
        semantic=config.semantic is not None and project.semantic_cache,
        kv_enabled=settings.kv_enabled,
        memory_ttl_seconds=memory.retained_seconds(project.cache_max_ttl_seconds),
        indexed=indexed,
    )
    print_json(report)
    return 0


async def _cache_warmups(args: argparse.Namespace, settings: Settings) -> int:
    async with connect(settings) as pool:
        ref = await find_project(pool, args.org, args.project)
        listed = await warmups.listed(pool, [ref.project_id], settings.warmup_grace_seconds)
    print_json({"object": "list", "data": [warmup.to_json() for warmup in listed]})
    return 0


def register(commands: Commands) -> None:
    cache = commands.add_parser("cache", help="the providers' prompt caches")
    verbs = cache.add_subparsers(dest="cache_command", required=True)
    report = verbs.add_parser("report", help="session health, prefix stability, stampedes")
    scope_options(report, formats=("table", "json"))
    report.set_defaults(run=_cache_report)

    erase = verbs.add_parser("erase", help="erase cached answers and memory by session, tag or all")
    erase.add_argument("--org", default="default")
    erase.add_argument("--project", required=True)
    what = erase.add_mutually_exclusive_group(required=True)
    what.add_argument("--session", metavar="ID")
    what.add_argument("--tag", metavar="KEY:VALUE")
    what.add_argument("--all", action="store_true")
    erase.set_defaults(run=_cache_erase)

    where = verbs.add_parser("residency", help="where a project's cached data lives, and for how long")
    where.add_argument("--org", default="default")
    where.add_argument("--project", required=True)
    where.set_defaults(run=_cache_residency)

    warm = verbs.add_parser("warmups", help="a project's prompt-prefix warm-ups and how they ran")
    warm.add_argument("--org", default="default")
    warm.add_argument("--project", required=True)
    warm.set_defaults(run=_cache_warmups)
