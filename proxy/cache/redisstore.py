"""The shared store of a deployment: Redis or Valkey, through redis-py's asyncio client.

Every record is a plain string with a time to live; the store's own ``maxmemory`` and an
eviction policy such as ``allkeys-lru`` bound it (see docs/deploying.md). A record evicted
early costs a fetch, never a wrong page: :mod:`proxy.cache.shared` treats a missing stamp or
generation as changed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

#: Where every instance hears which URLs changed (by slot: see proxy.cache.changes).
CHANNEL = "a11y-proxy:changes"
#: A generation outlives the pages of its URL: they are stored for at most this long past
#: their own freshness (see :data:`proxy.cache.policy.KEEP_FOR_REVALIDATION`), and one that
#: is gone only makes them count as changed.
GENERATION_TTL_MS = 7 * 86_400_000

# Give up a claim only if it is still the one we took (it may have expired and been taken):
# delete it, or leave ARGV[2] in its place for ARGV[3] milliseconds.
_RELEASE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('del', KEYS[1]) end
redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
#: A change channel silent this long is asked for a PONG; silent twice as long, it is taken
#: for lost (a store frozen or a connection dropped without a word) and subscribed again.
KEEPALIVE = 1.0


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class RedisStore:
    """One client (a connection pool) per worker."""

    errors: tuple[type[Exception], ...] = (RedisError,)

    def __init__(self, url: str, timeout: float) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._release = self._redis.register_script(_RELEASE)

    async def marks(self, stamp: str, generation: str) -> tuple[str | None, str | None]:
        values = await self._redis.mget(stamp, generation)
        return _text(values[0]), _text(values[1])

    async def load(self, page: str) -> bytes | None:
        value = await self._redis.get(page)
        return value if isinstance(value, bytes) else None

    async def vary(self, url: str) -> str | None:
        return _text(await self._redis.get(url))

    async def save(
        self, *, page: str, blob: bytes, stamp: tuple[str, str], vary: tuple[str, str], ttl: float
    ) -> None:
        # In this order, in one round trip: whoever reads the new stamp finds the new page.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(page, blob, px=_ms(ttl))
            pipe.set(stamp[0], stamp[1], px=_ms(ttl))
            pipe.set(vary[0], vary[1], px=_ms(ttl))
            await pipe.execute()

    async def generation(self, url: str, fresh: str) -> str:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(url, fresh, nx=True, px=GENERATION_TTL_MS)
            pipe.get(url)
            _, current = await pipe.execute()
        return _text(current) or fresh

    async def invalidate(self, url: str, fresh: str) -> None:
        await self._redis.set(url, fresh, px=GENERATION_TTL_MS)

    async def claim(self, name: str, token: str, ttl: float) -> str:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(name, token, nx=True, px=_ms(ttl))
            pipe.get(name)
            _, holder = await pipe.execute()
        return _text(holder) or ""

    async def release(self, name: str, token: str, leave: str, ttl: float) -> None:
        await self._release(keys=[name], args=[token, leave, _ms(ttl)])

    async def publish(self, message: str) -> None:
        await self._redis.publish(CHANNEL, message)

    async def listen(self, subscribed: Callable[[], None]) -> AsyncIterator[str]:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            quiet = 0
            while True:
                # A quiet channel is not a dead one, but one that does not answer a PING is.
                message = await pubsub.get_message(timeout=KEEPALIVE)
                if message is None:
                    quiet += 1
                    if quiet > 2:
                        raise TimeoutError("the change channel stopped answering")
                    if quiet == 1:
                        await pubsub.ping()
                    continue
                quiet = 0
                if message["type"] == "subscribe":
                    subscribed()  # from now on no change is missed
                elif message["type"] == "message" and isinstance(message["data"], bytes):
                    with contextlib.suppress(UnicodeDecodeError):
                        yield message["data"].decode()

    async def close(self) -> None:
        await self._redis.aclose()
