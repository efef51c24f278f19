"""Where a project's long prefixes part: the token at which each new prefix first differs from the
project's reference prefix, with a redacted excerpt of the text just before it.

A personalised system prompt ("You are helping Ada, whose plan is ...") makes every user's prefix
unique, so none is ever read from the provider's cache. Fingerprints say that prefixes differ, not
where. So the first long prefix a project sends in a day becomes its reference, kept in Redis as one
short hash per word; each later prefix not yet surveyed is compared with it word by word. What is
kept of the text is only the few words before the first difference, which the two prefixes share
(the template, not the user's part), with personal data masked; prefixes are surveyed once each, in
the background, and never when Redis is away.
"""

import asyncio
import hashlib
import json
import re
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from origin.cache.exact import CACHE_TIMEOUT_SECONDS, REDIS_ERRORS
from origin.chat.tokens import estimate_tokens
from origin.controls.pii import redacted
from origin.stores.redis_client import RedisClient
from origin.stores.redis_scripts import ScriptRunner

SURVEY_SECONDS: Final = 86400
EXCERPT_PIECES: Final = 16  # eight words and the spaces between them
HASH_BYTES: Final = 4
FP_CHARS: Final = 32
REMEMBERED: Final = 4096
PIECE: Final = re.compile(r"\S+|\s+")  # words and the runs of white space between them
REFERENCE: Final = "reference"

# Nothing (already surveyed), b"" (no reference yet), or the reference: its fingerprint, then its hashes.
_LOOKUP: Final = """
if redis.call('hexists', KEYS[1], ARGV[1]) == 1 then return false end
return redis.call('get', KEYS[2]) or ''
"""


def survey_keys(project_id: str) -> list[str]:
    """The project's surveyed prefixes (a hash) and its reference; one hash slot."""
    return [f"prism:pfxsurvey:{{{project_id}}}", f"prism:pfxref:{{{project_id}}}"]


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where ``prefixes`` of a project's prefixes first differ from its reference prefix."""

    project_id: str
    at_token: int
    excerpt: str
    prefixes: int

    def to_json(self) -> dict[str, object]:
        return {
            "project_id": self.project_id,
            "at_token": self.at_token,
            "excerpt": self.excerpt,
            "prefixes": self.prefixes,
        }


def word_hashes(text: str) -> tuple[list[int], bytes]:
    """Each piece's start offset in ``text`` (a word or white space) and the pieces' hashes, packed."""
    starts, packed = [], bytearray()
    for match in PIECE.finditer(text):
        starts.append(match.start())
        packed += hashlib.blake2b(match.group().encode(), digest_size=HASH_BYTES).digest()
    return starts, bytes(packed)


def first_difference(reference: bytes, packed: bytes) -> int:
    """The index of the first piece whose hash differs (or the shorter one's length)."""
    words = min(len(reference), len(packed)) // HASH_BYTES
    for index in range(words):
        at = index * HASH_BYTES
        if reference[at : at + HASH_BYTES] != packed[at : at + HASH_BYTES]:
            return index
    return words


def parting(text: str, starts: list[int], word: int) -> tuple[int, str]:
    """The token position of ``word`` and a redacted excerpt of the words before it."""
    cut = starts[word] if word < len(starts) else len(text)
    begin = starts[max(0, word - EXCERPT_PIECES)] if starts else 0
    excerpt = redacted(text[begin:cut])
    return estimate_tokens(text[:cut]), ("…" if begin else "") + excerpt + "⟨differs⟩"


class PrefixSurvey:
    def __init__(
        self,
        redis_client: RedisClient,
        *,
        scripts: ScriptRunner | None = None,
        timeout: float = CACHE_TIMEOUT_SECONDS,
    ) -> None:
        self._redis = redis_client
        self._timeout = timeout
        self._lookup = (scripts or ScriptRunner(redis_client)).register(_LOOKUP)
        self._surveyed: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def survey(self, project_id: str, fp: str, text: str) -> None:
        """Record where ``text`` (the prefix ``fp``) parts from the project's reference; best effort."""
        if (project_id, fp) in self._surveyed:
            return
        keys = survey_keys(project_id)
        try:
            async with asyncio.timeout(self._timeout):
                reference = await self._lookup(keys=keys, args=[fp])
                if reference is not None and not await self._record(keys, fp, text, bytes(reference)):
                    return
        except REDIS_ERRORS:
            return
        self._surveyed[(project_id, fp)] = None
        while len(self._surveyed) > REMEMBERED:
            self._surveyed.popitem(last=False)

    async def _record(self, keys: list[str], fp: str, text: str, reference: bytes) -> bool:
        """Store the survey of ``fp``; ``False`` when another prefix became the reference meanwhile."""
        starts, packed = word_hashes(text)
        if not reference:
            if not await self._redis.set(keys[1], fp.encode() + packed, nx=True, ex=SURVEY_SECONDS):
                return False
            value = REFERENCE
        elif reference[:FP_CHARS].decode() == fp:
            value = REFERENCE
        else:
            at_token, excerpt = parting(text, starts, first_difference(reference[FP_CHARS:], packed))
            value = json.dumps({"at_token": at_token, "excerpt": excerpt})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys[0], fp, value)
            pipe.expire(keys[0], SURVEY_SECONDS)
            await pipe.execute()
        return True

    async def divergences(self, project_ids: Iterable[str]) -> list[Divergence]:
        """Per project, the most common place its prefixes part from the reference (none without Redis)."""
        found = []
        try:
            for project_id in project_ids:
                async with asyncio.timeout(self._timeout):
                    surveyed = await self._redis.hgetall(survey_keys(project_id)[0])
                divergence = commonest(project_id, surveyed.values())
                if divergence is not None:
                    found.append(divergence)
        except REDIS_ERRORS:
            return []
        return found


def commonest(project_id: str, surveyed: Iterable[bytes | str]) -> Divergence | None:
    """The parting most of ``surveyed`` (the survey hash's values) share; ``None`` when none parted."""
    partings: Counter[tuple[int, str]] = Counter()
    for raw in surveyed:
        value = raw.decode() if isinstance(raw, bytes) else raw
        if value != REFERENCE:
            parsed = json.loads(value)
            partings[(parsed["at_token"], parsed["excerpt"])] += 1
    if not partings:
        return None
    (at_token, excerpt), count = min(partings.items(), key=lambda item: (-item[1], item[0]))
    return Divergence(project_id, at_token, excerpt, count)
