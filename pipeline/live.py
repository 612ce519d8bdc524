"""Live updates of 民情事件 for the open pages (command centre, grid worker, departments).

One ``Hub`` per server process and event loop holds one LISTEN connection (``layers.live``) while
at least one stream is open, and hands each change to the streams whose viewer may see that event
(``pipeline.events.visible``: a department only its department's events, a grid worker their grid,
a dispatcher their town). Changes made by any process reach every process's streams, because they
travel through PostgreSQL NOTIFY, sent when the changing transaction commits.

A stream that falls behind (its queue full) is ended: the browser's EventSource reconnects and the
page reloads its lists, so nothing is silently lost. Streams end after ``max_seconds`` as well, so
that a reconnect checks the login again (logged out, role changed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from layers import live
from layers.users import Account
from pipeline.events import visible

log = logging.getLogger(__name__)
QUEUE_SIZE = 500
_END = object()


@dataclass(eq=False)
class Stream:
    """One open stream: the viewer and the changes waiting to be sent."""

    user: Account
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE))

    def offer(self, change: dict[str, Any]) -> bool:
        """Queue ``change``; False when the stream is full (it is then ended)."""
        try:
            self.queue.put_nowait(change)
            return True
        except asyncio.QueueFull:
            return False


class Hub:
    """Fan-out of the changes heard on one LISTEN connection to this process's open streams."""

    def __init__(
        self,
        url: str,
        *,
        listen: Callable[..., AsyncIterator[dict]] = live.listen,
        retry_seconds: float = 2.0,
    ) -> None:
        self.url = url
        self._listen = listen
        self.retry_seconds = retry_seconds
        self.streams: set[Stream] = set()
        self.listening = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.loop = asyncio.get_running_loop()

    def open(self, user: Account) -> Stream:
        stream = Stream(user)
        self.streams.add(stream)
        if self._task is None or self._task.done():
            self.listening.clear()
            self._task = asyncio.create_task(self._run(), name="minqing-live")
        return stream

    def close(self, stream: Stream) -> None:
        self.streams.discard(stream)
        if not self.streams and self._task is not None:
            self._task.cancel()
            self._task = None
            self.listening.clear()

    def deliver(self, change: dict[str, Any]) -> int:
        """Hand one change to every stream that may see it; returns how many got it."""
        sent = 0
        for stream in list(self.streams):
            if not visible(stream.user, change):
                continue
            if stream.offer(change):
                sent += 1
            else:  # too far behind: end it (the page reconnects and reloads)
                self.streams.discard(stream)
                while not stream.queue.empty():
                    stream.queue.get_nowait()
                stream.queue.put_nowait(_END)
        return sent

    async def _run(self) -> None:
        while self.streams:
            try:
                async for change in self._listen(self.url, on_listening=self.listening.set):
                    self.deliver(change)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database went away: try again, the pages keep their data
                log.warning("live updates: listening failed (%s), retrying in %.0f s", e, self.retry_seconds)
                self.listening.clear()
            await asyncio.sleep(self.retry_seconds)


async def changes(
    hub: Hub, stream: Stream, *, heartbeat_seconds: float = 15.0, max_seconds: float = 1800.0
) -> AsyncIterator[dict[str, Any] | None]:
    """The changes ``stream`` may see, as they come; None every ``heartbeat_seconds`` of silence
    (keeps proxies from closing the connection). Ends after ``max_seconds`` or when the stream fell
    behind. The first item is ``{"ready": True}`` once the hub listens (changes committed from then
    on are all delivered: a page reloads its lists at that moment)."""
    end = time.monotonic() + max_seconds
    try:
        try:
            await asyncio.wait_for(hub.listening.wait(), timeout=30)
        except TimeoutError:
            return
        yield {"ready": True}
        while (left := end - time.monotonic()) > 0:
            try:
                item = await asyncio.wait_for(stream.queue.get(), timeout=min(heartbeat_seconds, left))
            except TimeoutError:
                yield None
                continue
            if item is _END:
                return
            yield item
    finally:
        hub.close(stream)


_HUBS: dict[tuple[int, str], Hub] = {}


def hub_for(url: str) -> Hub:
    """This event loop's hub for the database ``url`` (made on first use)."""
    loop = asyncio.get_running_loop()
    key = (id(loop), url)
    hub = _HUBS.get(key)
    if hub is None or hub.loop is not loop:
        hub = _HUBS[key] = Hub(url)
    return hub
