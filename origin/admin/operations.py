"""What an operator changes, with everything the change owes the rest of the system.

A key created, a setting changed or a rule added must reach the edge (its grants republished to
Workers KV) and a revoked key must leave every origin's key cache. The ``prism`` CLI and the admin
API both change things through ``Operations``, so neither can forget a step.
"""

import asyncio
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from redis.exceptions import RedisError

from origin.admin import fields
from origin.controls.auth import forget_keys
from origin.controls.grants import publish_org_grants, publish_project_grants
from origin.controls.policy import Effect, PolicyRule, ProjectControls, Target, rule_shape_error
from origin.dashboard.passwords import hash_password
from origin.stores import controls, postgres, users
from origin.stores.controls import PolicyOwner, ProjectRef, Tag
from origin.stores.kv import KVPublisher
from origin.stores.redis_client import RedisClient


class OperationError(Exception):
    """A change the stores cannot make as asked; the message is one line meant for a person."""


class NotFound(OperationError):
    pass


class Conflict(OperationError):
    pass


async def find_project(pool: postgres.Pool, org: str, project: str) -> ProjectRef:
    ref = await controls.find_project(pool, org=org, project=project)
    if ref is None:
        raise NotFound(f"no project {project!r} in org {org!r}")
    return ref


async def find_org(pool: postgres.Pool, org: str) -> str:
    org_id = await controls.find_org(pool, org)
    if org_id is None:
        raise NotFound(f"no org named {org!r}")
    return org_id


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: str  # the plain key: shown once, never stored
    record: postgres.KeyRecord
    limits: postgres.KeyLimits


@dataclass(frozen=True, slots=True)
class Operations:
    pool: postgres.Pool
    redis: RedisClient
    kv: KVPublisher
    pepper: str
    config_digest: Callable[[], str]  # the gateway config's, which the edge's grants carry
    warn: Callable[[str], None]  # a step that failed after the change itself was made

    async def project(self, org: str, project: str) -> tuple[ProjectRef, ProjectControls]:
        ref = await self._find_project(org, project)
        return ref, await controls.load_controls(self.pool, ref.org_id, ref.project_id)

    async def create_org(self, org: str) -> None:
        await controls.create_org(self.pool, org)

    async def create_project(self, org: str, project: str) -> tuple[ProjectRef, ProjectControls]:
        """The project (and its org), made if it does not exist yet; it has no keys to publish."""
        ref = await controls.create_project(self.pool, org=org, project=project)
        return ref, await controls.load_controls(self.pool, ref.org_id, ref.project_id)

    async def update_project(
        self, org: str, project: str, changes: Mapping[str, Any]
    ) -> tuple[ProjectRef, ProjectControls]:
        """Change some of a project's settings (``ProjectSettings`` names; a bad value is a
        ``ValueError``). Every setting is part of the controls generation, so answers the edge cached
        before the change stop being served."""
        ref = await self._find_project(org, project)
        if changes:
            await controls.update_project_settings(self.pool, ref.project_id, changes)
            await self._publish({ref.project_id})
        return ref, await controls.load_controls(self.pool, ref.org_id, ref.project_id)

    async def create_key(self, org: str, project: str, limits: postgres.KeyLimits) -> CreatedKey:
        if limits.expires_at is not None and limits.expires_at <= datetime.now(UTC):
            raise OperationError(f"the expiry {limits.expires_at:%Y-%m-%d %H:%M}Z is already past")
        key, record = await postgres.create_key(
            self.pool, project=project, org=org, pepper=self.pepper, limits=limits
        )
        await self._publish({record.project_id})
        return CreatedKey(key, record, limits)

    async def revoke_keys(self, prefix: str) -> int:
        """Revoke the active keys with this display prefix; how many there were (none: ``NotFound``)."""
        revoked = await postgres.revoke_keys(self.pool, prefix)
        if not revoked:
            raise NotFound(f"no active key has the prefix {prefix!r}")
        await self._publish({item.project_id for item in revoked})
        try:
            await forget_keys(self.redis, [item.key_hash for item in revoked])
        except RedisError:
            self.warn("Redis unreachable; origins notice the revocation within 5 s anyway")
        return len(revoked)

    async def set_budget(self, org: str, project: str, monthly_cents: Decimal, tag: Tag | None) -> ProjectRef:
        ref = await self._find_project(org, project)
        await controls.set_budget(self.pool, ref.project_id, monthly_cents, tag=tag)
        return ref

    async def remove_budget(self, org: str, project: str, tag: Tag | None) -> ProjectRef:
        ref = await self._find_project(org, project)
        if not await controls.remove_budget(self.pool, ref.project_id, tag=tag):
            scope = ref.label if tag is None else f"{ref.label} tagged {tag[0]}={tag[1]}"
            raise NotFound(f"no budget for {scope}")
        return ref

    async def add_policy(
        self,
        org: str,
        project: str | None,
        effect: Effect,
        target: Target,
        pattern: str | None = None,
        max_tokens: int | None = None,
    ) -> PolicyRule:
        """Add a rule to an org (``project`` None) or to one of its projects."""
        if (problem := rule_shape_error(effect, target, pattern, max_tokens)) is not None:
            raise OperationError(problem)
        if project is None:
            org_id, project_id, label = await self._find_org(org), None, org
        else:
            ref = await self._find_project(org, project)
            org_id, project_id, label = ref.org_id, ref.project_id, ref.label
        policy_id = await controls.add_policy(
            self.pool,
            org_id=org_id,
            project_id=project_id,
            effect=effect,
            target=target,
            pattern=pattern,
            max_tokens=max_tokens,
        )
        await self._republish(PolicyOwner(org_id, project_id))
        return PolicyRule(
            policy_id, "org" if project is None else "project", label, effect, target, pattern, max_tokens
        )

    async def policies(self, org: str | None, project: str | None) -> list[PolicyRule]:
        """Every rule, an org's, or those that apply to a project (its org's included)."""
        if project is not None:
            ref = await self._find_project(org or "default", project)
            return await controls.list_policies(self.pool, org_id=ref.org_id, project_id=ref.project_id)
        if org is not None:
            return await controls.list_policies(self.pool, org_id=await self._find_org(org))
        return await controls.list_policies(self.pool)

    async def remove_policy(self, policy_id: int) -> None:
        owner = await controls.remove_policy(self.pool, policy_id)
        if owner is None:
            raise NotFound(f"no policy #{policy_id}")
        await self._republish(owner)

    async def create_user(self, org: str, email: str, password: str) -> None:
        """A dashboard sign-in in ``org`` (created if needed); the password is kept only hashed."""
        hashed = await asyncio.to_thread(hash_password, fields.password(password))
        if (
            await users.create_user(self.pool, org=org, email=fields.email(email), password_hash=hashed)
            is None
        ):
            raise Conflict(f"a user with the address {email!r} exists already")

    async def remove_user(self, email: str) -> None:
        if not await users.remove_user(self.pool, email):
            raise NotFound(f"no user has the address {email!r}")

    async def _find_project(self, org: str, project: str) -> ProjectRef:
        return await find_project(self.pool, org, project)

    async def _find_org(self, org: str) -> str:
        return await find_org(self.pool, org)

    async def _republish(self, owner: PolicyOwner) -> None:
        """The edge stops serving answers cached under the old rules (an org rule: every project's)."""
        if owner.project_id is None:
            await self._publish(set(), org_ids={owner.org_id})
        else:
            await self._publish({owner.project_id})

    async def _publish(self, project_ids: Set[str], *, org_ids: Set[str] = frozenset()) -> None:
        """Tell the edge about the change (when Workers KV is configured); a failure is a warning."""
        if not self.kv.enabled:
            return
        try:
            digest = self.config_digest()
            for org_id in sorted(org_ids):
                await publish_org_grants(self.pool, self.kv, org_id, config_digest=digest)
            for project_id in sorted(project_ids):
                await publish_project_grants(self.pool, self.kv, project_id, config_digest=digest)
        except Exception as error:  # the change itself is done; say what the edge has not seen
            self.warn(f"could not publish to Workers KV ({type(error).__name__}); repeat the change to retry")
