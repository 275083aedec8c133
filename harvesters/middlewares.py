"""Downloader middlewares: retries with exponential backoff; robots.txt checked for every request;
and a downloader that keeps each download slot's concurrency limit.

Scrapy 2.19's RetryMiddleware re-queues a failed request at once (it has no backoff setting);
against a portal that is overloaded that is the wrong answer. This one waits
`RETRY_BACKOFF_BASE * 2**(attempt-1)` seconds (capped at `RETRY_BACKOFF_MAX`, with jitter, and
at least what a `Retry-After` header asks) before handing the retry back. The wait holds no
download slot: other requests of the portal go on meanwhile.

`SlotDownloader` (setting `DOWNLOADER`): Scrapy 2.19's downloader, under the asyncio reactor,
pops *every* queued request of a slot at once when no download delay is set, because a request
only counts as transferring once its task starts; so `CONCURRENT_REQUESTS_PER_DOMAIN` did not
hold (130 requests in flight to one sandbox portal; 129 new TCP connections for 173 requests,
the pool dropping the rest). This one counts a request as transferring when it is popped.
"""

from __future__ import annotations

import asyncio
import random
from time import monotonic

from scrapy.core.downloader import Downloader, Slot
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as BaseRobotsTxtMiddleware
from scrapy.http import Request, Response
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro, maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message
from twisted.internet.defer import Deferred


class BackoffRetryMiddleware(RetryMiddleware):
    def __init__(self, settings):
        super().__init__(settings)
        self.base = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.cap = settings.getfloat("RETRY_BACKOFF_MAX", 60.0)

    def delay(self, request: Request, response: Response | None = None) -> float:
        attempt = request.meta.get("retry_times", 0) + 1
        wait = min(self.cap, self.base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        if response is not None:
            after = response.headers.get(b"Retry-After")
            if after and after.strip().isdigit():
                wait = max(wait, min(self.cap, float(after.strip())))
        return wait

    async def process_response(self, request: Request, response: Response):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        await asyncio.sleep(self.delay(request, response))
        return retry

    async def process_exception(self, request: Request, exception: Exception):
        if request.meta.get("dont_retry", False) or not isinstance(
            exception, self.exceptions_to_retry
        ):
            return None
        retry = self._retry(request, exception)
        if retry is not None:
            await asyncio.sleep(self.delay(request))
        return retry


class RobotsTxtMiddleware(BaseRobotsTxtMiddleware):
    """Scrapy 2.19's robots.txt middleware, with one fix: requests that arrive while robots.txt
    is still being fetched all wait on one Deferred, and the first waiter's callback swallows
    the parser, so the others are let through unchecked (seen here: disallowed pages fetched
    when an incremental run starts with many requests at once). Each waiter gets its own
    Deferred, relayed from the shared one."""

    async def robot_parser(self, request: Request):
        parser = self._parsers.get(urlparse_cached(request).netloc)
        if isinstance(parser, Deferred):
            waiter: Deferred = Deferred()

            def relay(result):
                waiter.callback(result)
                return result

            parser.addBoth(relay)
            return await maybe_deferred_to_future(waiter)
        return await super().robot_parser(request)


class SlotDownloader(Downloader):
    """Scrapy's downloader with the slot's transfer counted from the moment a request is popped
    (Scrapy adds it in `_download`, which runs later, as a task): see the module docstring."""

    def _process_queue(self, slot: Slot) -> None:
        if slot.latercall:
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            slot.transferring.add(request)  # `_download` adds it again, and removes it
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break
