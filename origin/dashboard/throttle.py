"""Sign-in attempts counted in Redis, per address and per client IP, over a fixed window.

Counted before the password is checked, so parallel guesses cannot outrun the count, and shared by
every origin instance.
"""

import hashlib
from typing import Final

from origin.stores.redis_client import RedisClient

LIMIT: Final = 10
WINDOW_SECONDS: Final = 15 * 60
# One hash tag for every sign-in key: an attempt's two counts move in one transaction, so they stay
# in step (sign-ins are few: one Redis Cluster slot carries them all).
_PREFIX: Final = "prism:{signin}:"


def _keys(email: str, client_ip: str) -> list[str]:
    # Hashed: the address is not to be read back out of Redis.
    address = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return [f"{_PREFIX}email:{address}", f"{_PREFIX}ip:{client_ip}"]


class SignInThrottle:
    def __init__(self, client: RedisClient, *, limit: int = LIMIT, window_seconds: int = WINDOW_SECONDS):
        self._redis = client
        self._limit = limit
        self._window = window_seconds

    async def admit(self, email: str, client_ip: str) -> bool:
        """Count one attempt; False when the address or the IP is past its limit in this window."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in _keys(email, client_ip):
                pipe.set(key, 0, ex=self._window, nx=True)
                pipe.incr(key)
            results = await pipe.execute()
        return all(count <= self._limit for count in results[1::2])
