"""Everything the origin holds while it runs: built once at startup, passed down, closed at shutdown."""

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from origin.admin.operations import Operations
from origin.cache.answers import Answers
from origin.cache.erasure import CacheIndex
from origin.cache.exact import ExactCache
from origin.cache.local import LocalEntries
from origin.cache.memory import SessionMemory
from origin.cache.semantic import SemanticCache
from origin.cache.semantic_layer import SemanticLayer
from origin.cache.singleflight import SingleFlight
from origin.chat.ledger import Ledger
from origin.chat.pipeline import ChatPipeline
from origin.chat.prefix_flight import PrefixFlights
from origin.chat.prefix_survey import PrefixSurvey
from origin.chat.warmup import WarmupScheduler
from origin.config import GatewayConfig, config_digest, load_config
from origin.controls.admission import Admission
from origin.controls.auth import Authenticator
from origin.controls.cache import ControlsCache
from origin.controls.grants import republish_until_done
from origin.controls.limits import Budgets, RateLimiter, TokenLimiter
from origin.embeddings.pipeline import EmbeddingsPipeline
from origin.messages.dispatch import MessagesDispatch
from origin.messages.pipeline import MessagesPipeline
from origin.ops.background import Background
from origin.ops.lease import Lease
from origin.ops.metrics import Metrics
from origin.ops.periodic import Periodic
from origin.providers.breakers import Breakers
from origin.providers.dispatch import Dispatcher
from origin.providers.embeddings import embeddings_client
from origin.providers.upstream import Upstream
from origin.responses.dispatch import ResponsesDispatch
from origin.responses.pipeline import ResponsesPipeline
from origin.settings import Settings
from origin.stores import postgres, usage_partitions
from origin.stores.inflight import Inflight
from origin.stores.kv import KVPublisher
from origin.stores.postgres import KeyRecord
from origin.stores.redis_client import RedisClient
from origin.stores.redis_client import connect as connect_redis
from origin.stores.redis_multiplex import Address, Multiplexer
from origin.stores.redis_scripts import ScriptRunner
from origin.stores.responses import ResponseStore
from origin.usage.deadletters import DeadLetterSweeper, envelope_ingest
from origin.usage.journal import Journal
from origin.usage.logged_spend import logged_spend
from origin.usage.sink import UsageSink
from origin.usage.spool import Spool
from origin.usage.writer import UsageWriter
from shared import headers as h
from shared.edge_forwarded import forwarded_region
from shared.usage import UsageRow

POOL_CLOSE_SECONDS = 10.0
# Budgets and rate limits fail closed (503) past this. Not shorter: under a burst on two busy cores a
# reservation can queue for over a second behind the burst itself (1 s gave spurious 503s in the
# 200-request test), and a hung Redis still answers within it, never hangs.
LIMITS_DEADLINE_SECONDS = 2.5
log = logging.getLogger("prism.state")


@dataclass(slots=True)
class AppState:
    settings: Settings
    config: GatewayConfig
    pool: postgres.Pool
    redis: RedisClient
    scripts: ScriptRunner
    auth: Authenticator
    upstream: Upstream
    breakers: Breakers
    metrics: Metrics
    spool: Spool
    writer: UsageWriter
    memory: SessionMemory
    cache_index: CacheIndex
    survey: PrefixSurvey
    controls: ControlsCache
    admission: Admission
    background: Background
    pipeline: ChatPipeline
    embeddings: EmbeddingsPipeline
    messages: MessagesPipeline
    responses: ResponsesPipeline
    semantic: SemanticLayer | None
    kv: KVPublisher
    sweeper: DeadLetterSweeper
    warmups: WarmupScheduler
    partitions: Periodic
    sink: UsageSink
    operations: Operations
    grant_republisher: "asyncio.Task[None] | None" = None
    # /readyz's store checks: one at a time per store, never cancelled mid-query.
    probes: Inflight[str, object] = field(default_factory=Inflight)

    @classmethod
    async def start(cls, settings: Settings) -> "AppState":
        config = load_config(settings.config_path, settings.provider_api_keys)
        # min_size=0: the origin starts (and spools usage) even while Postgres is down.
        pool = await postgres.create_pool(settings.database_url, min_size=0, max_size=10)
        # The socket timeout is only a backstop: each caller's own deadline decides (a loop busy with a
        # burst can hold a reply past 1 s, which must not read as Redis being down).
        redis_client = connect_redis(
            settings.redis_url, socket_timeout=LIMITS_DEADLINE_SECONDS, connect_timeout=1.0
        )
        address = Address.of(redis_client)
        scripts = ScriptRunner(redis_client, Multiplexer(address) if address is not None else None)
        metrics = Metrics()
        upstream = Upstream(config.providers, config.timeouts)
        breakers = Breakers(config.breaker)
        spool = Spool(settings.spool_dir)
        writer = UsageWriter(pool, spool, journal=Journal(settings.spool_dir))
        await writer.start()
        kv = KVPublisher.from_settings(settings)
        kv.start()
        auth = Authenticator(
            pool, redis_client, pepper=settings.key_pepper, cache_seconds=settings.key_cache_seconds
        )
        dispatcher = Dispatcher(config, upstream, breakers, metrics, rng=random.Random())
        memory = SessionMemory(redis_client)
        local = LocalEntries(settings.local_cache_seconds)
        cache_index = CacheIndex(redis_client, memory, kv, local=local, scripts=scripts)
        cache = ExactCache(redis_client, local=local)
        admission = Admission(
            Budgets(
                redis_client,
                timeout=LIMITS_DEADLINE_SECONDS,
                scripts=scripts,
                history=logged_spend(pool, writer),
            ),
            RateLimiter(redis_client, timeout=LIMITS_DEADLINE_SECONDS, scripts=scripts),
            TokenLimiter(redis_client, timeout=LIMITS_DEADLINE_SECONDS, scripts=scripts),
        )
        semantic = None
        if config.semantic is not None:
            semantic_cache = SemanticCache(
                redis_client,
                bands=config.semantic.bands,
                rows=config.semantic.rows,
                max_entries=config.semantic.max_entries,
                max_candidates=config.semantic.max_candidates,
                scripts=scripts,
            )
            embedder = embeddings_client(config.semantic, config.providers, upstream, breakers, metrics)
            semantic = SemanticLayer(semantic_cache, embedder, config.semantic)
        sink = UsageSink(metrics, writer.submit)
        background = Background()
        controls = ControlsCache(pool)
        survey = PrefixSurvey(redis_client, scripts=scripts)

        def ledgers(key: KeyRecord, headers: Mapping[str, str]) -> Ledger:
            ledger = Ledger(key, sink.record, background.spawn)
            stamp = headers.get(h.EDGE_FORWARDED)
            ledger.row.edge_region = forwarded_region(stamp, settings.ingest_secret, now=time.time())
            return ledger

        flights = SingleFlight(redis_client, local=local, scripts=scripts)
        pipeline = ChatPipeline(
            config,
            auth,
            controls,
            ledgers,
            dispatcher,
            cache,
            flights,
            memory,
            admission,
            metrics,
            PrefixFlights(redis_client, metrics, wait_seconds=config.single_flight_wait, scripts=scripts),
            survey,
            cache_index,
            flight_wait_seconds=config.single_flight_wait,
            prompt_cache_secret=settings.key_pepper.encode(),
            semantic=semantic,
            kv=kv,
        )
        answers = Answers(
            flights,
            cache_index,
            wait_seconds=config.single_flight_wait,
            kv=kv,
            config_digest=config_digest(config),
        )
        embeddings = EmbeddingsPipeline(config, auth, controls, ledgers, dispatcher, answers, admission)
        messages = MessagesPipeline(
            auth,
            controls,
            ledgers,
            pipeline.route,
            MessagesDispatch(config, dispatcher),
            answers,
            admission,
        )
        responses = ResponsesPipeline(
            auth,
            controls,
            ledgers,
            pipeline.route,
            ResponsesDispatch(config, dispatcher),
            answers,
            admission,
            ResponseStore(pool, retention_seconds=settings.responses_retention_days * 86400),
        )
        warmup_scheduler = WarmupScheduler(
            pool,
            Lease(redis_client, "warmups", seconds=settings.warmup_lease_seconds, scripts=scripts),
            pipeline.serve,
            metrics,
            tick_seconds=settings.warmup_tick_seconds,
            grace_seconds=settings.warmup_grace_seconds,
        )
        warmup_scheduler.start()
        sweeper = DeadLetterSweeper(
            kv,
            envelope_ingest(auth, sink.record, settings.ingest_secret),
            interval=settings.dead_letter_sweep_seconds,
            durable=writer.flush,
        )
        sweeper.start()
        partitions = Periodic(
            "usage-partitions",
            functools.partial(usage_partitions.keep, pool, settings.usage_retention_months),
            every=usage_partitions.CHECK_SECONDS,
        )
        partitions.start()
        republisher = None
        if kv.enabled:  # this config may route differently from the one the grants were made under
            republisher = asyncio.get_running_loop().create_task(
                republish_until_done(pool, kv, redis_client, config_digest=config_digest(config)),
                name="prism-grant-republish",
            )
        digest = config_digest(config)
        operations = Operations(
            pool,
            redis_client,
            kv,
            pepper=settings.key_pepper,
            config_digest=lambda: digest,
            warn=lambda text: log.warning("admin API: %s", text),
        )
        return cls(
            operations=operations,
            settings=settings,
            config=config,
            pool=pool,
            redis=redis_client,
            scripts=scripts,
            auth=auth,
            upstream=upstream,
            breakers=breakers,
            metrics=metrics,
            spool=spool,
            writer=writer,
            memory=memory,
            cache_index=cache_index,
            survey=survey,
            controls=controls,
            admission=admission,
            background=background,
            sink=sink,
            pipeline=pipeline,
            embeddings=embeddings,
            messages=messages,
            responses=responses,
            semantic=semantic,
            kv=kv,
            sweeper=sweeper,
            warmups=warmup_scheduler,
            partitions=partitions,
            grant_republisher=republisher,
        )

    async def close(self) -> None:
        if self.grant_republisher is not None:
            self.grant_republisher.cancel()  # the next start finishes the job
            with contextlib.suppress(asyncio.CancelledError):
                await self.grant_republisher
        await self.warmups.stop()
        await self.partitions.stop()
        await self.background.drain()
        await self.sweeper.stop()
        await self.kv.stop()
        await self.upstream.close()
        await self.writer.stop()
        self.spool.close()
        self.scripts.close()
        await self.redis.aclose()
        try:
            await asyncio.wait_for(self.pool.close(), POOL_CLOSE_SECONDS)
        except TimeoutError:  # a connection never came back: shutting down beats waiting for it
            log.warning("Postgres connections still in use after %ss; terminating them", POOL_CLOSE_SECONDS)
            self.pool.terminate()

    def record(self, row: UsageRow) -> None:
        self.sink.record(row)
