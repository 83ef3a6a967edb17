"""A bounded worker pool: a fixed number of threads and a fixed number of waiting requests.

A request that finds every slot taken is refused at once (``PoolFull``, which the app answers with
503) instead of queueing without bound: a burst can neither block the event loop nor grow memory.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class PoolFull(RuntimeError):
    """Every worker is busy and the waiting line is full."""


class BoundedPool:
    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(f"pool: need workers >= 1 and queue >= 0, got {workers}, {queue}")
        self.workers, self.queue = workers, queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="explore")
        self._slots = threading.BoundedSemaphore(workers + queue)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker thread, awaited; PoolFull when no slot is free."""
        if not self._slots.acquire(blocking=False):
            raise PoolFull(f"the explorer is busy ({self.workers} working, {self.queue} waiting); retry shortly")
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
