"""Scrapy settings: polite by default, nothing listening on a local port.

Scrapy 2.19 ships a remote-control extension that runs code sent to a local HTTP port, and a
telnet console: both are off. Politeness (robots.txt, AutoThrottle, an honest User-Agent,
retries with backoff) is on; the sandbox loosens only the throttle, never the rest.
"""

from gongkai.config import USER_AGENT
from harvesters.listwalk import AUDIT_EVERY

BOT_NAME = "gongkai"
SPIDER_MODULES = ["harvesters.spiders"]
NEWSPIDER_MODULE = "harvesters.spiders"

USER_AGENT = USER_AGENT
ROBOTSTXT_OBEY = True

REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False
EXTENSIONS = {"scrapy.extensions.telnet.TelnetConsole": None}

CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.5
DOWNLOAD_TIMEOUT = 30
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0

RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
# Scrapy has no retry backoff: harvesters.middlewares.BackoffRetryMiddleware waits
# base * 2**(attempt-1) seconds (jittered, capped, at least Retry-After) before a retry.
RETRY_GIVE_UP_LOG_LEVEL = "INFO"  # the run's errors file keeps every page given up on
RETRY_BACKOFF_BASE = 2.0
RETRY_BACKOFF_MAX = 120.0
# List pages lead to notices: they are retried harder than detail pages.
GONGKAI_LIST_RETRIES = 8
GONGKAI_TRUNCATED_RETRIES = 2
# Per-source time budget (each source is its own crawler): hitting it is recorded in health.
CLOSESPIDER_TIMEOUT = 4 * 3600
# Incremental runs when the state knows the source; GONGKAI_REVALIDATE sends a conditional
# request for every listed known document (a periodic full check).
GONGKAI_INCREMENTAL = True
GONGKAI_REVALIDATE = False
# Each incremental run reads one page in N of a long list again below its top walk, a different
# one each run (harvesters/listwalk.py): an edit that leaves a notice in place on its list is
# seen within N runs. 1 reads every list whole every run.
GONGKAI_LIST_AUDIT_EVERY = AUDIT_EVERY  # 7
GONGKAI_WARC_LEVEL = 1

# Scrapy 2.19's downloader lets every queued request of a slot through at once (asyncio
# reactor, no delay): harvesters.middlewares.SlotDownloader keeps the per-portal limit.
DOWNLOADER = "harvesters.middlewares.SlotDownloader"

# Only what the harvester uses, live and in the sandbox alike (docs/harvesting.md, Speed).
# Dropped: the offsite filter (the spider keeps to its own scope), HTTP auth (no credentials),
# DownloaderStats (byte counters nobody reads; health uses the engine's counts), and the
# spider middlewares that add a Referer header, track depth, check URL length (the spider
# only follows its own list and detail URL shapes) or warn about copied meta keys.
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
    "scrapy.downloadermiddlewares.stats.DownloaderStats": None,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "harvesters.middlewares.RobotsTxtMiddleware": 100,
    "harvesters.middlewares.BackoffRetryMiddleware": 550,
    # next to the downloader: every response as it came, before decompression and redirects
    "harvesters.warc.WarcMiddleware": 950,
}
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
# Scrapy starts CONCURRENT_ITEMS (default 100) asyncio tasks for the output of *every*
# response; our item pipeline is synchronous, so one is enough (a third of Scrapy's CPU/page).
CONCURRENT_ITEMS = 1
# Scrapy re-parses a callback's source (ast) on each call to warn about `return value` in
# generators: its cache is keyed by the bound method, which is new every time.
WARN_ON_GENERATOR_RETURN_VALUE = False

COOKIES_ENABLED = False
REDIRECT_ENABLED = True
DNSCACHE_ENABLED = True
LOG_LEVEL = "WARNING"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

ITEM_PIPELINES = {"harvesters.pipelines.JsonLinesPerSource": 300}

# Loopback sandbox: the server is ours and local, so no throttle is needed to be polite.
SANDBOX_OVERRIDES = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    # Not more: the sandbox is one process that renders attachments on its event loop. At
    # 64/16, 34k notices lost 360 to its 2.5 s timeout and the crawl was slower (117 s vs 86 s);
    # at 32/4 none (docs/performance.md).
    "CONCURRENT_REQUESTS": 32,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
    "RETRY_TIMES": 2,
    "RETRY_BACKOFF_BASE": 0.05,
    "RETRY_BACKOFF_MAX": 0.5,
    # small, so the sandbox's slow pages (4 s) time out quickly and the tests stay fast
    "DOWNLOAD_TIMEOUT": 2.5,
    # the live budget: at 1M notices a sandbox source is ~12k pages, beyond any shorter cap
    "CLOSESPIDER_TIMEOUT": 4 * 3600,
}
