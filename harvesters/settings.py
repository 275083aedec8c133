"""Scrapy settings: polite by default, nothing listening on a local port.

Scrapy 2.19 ships a remote-control extension that runs code sent to a local HTTP port, and a
telnet console: both are off. Politeness (robots.txt, AutoThrottle, an honest User-Agent,
retries with backoff) is on; the sandbox loosens only the throttle, never the rest.
"""

from gongkai.config import USER_AGENT

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
    "CONCURRENT_REQUESTS": 64,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "RETRY_TIMES": 2,
    "DOWNLOAD_TIMEOUT": 15,
}
