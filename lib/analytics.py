"""Anonymous, aggregate-only usage counters: page views and tool runs per UTC day.

What is stored is exactly what README "What we count" lists: per day, counts of views by site path,
browser family + major version, device class and country, tool runs by outcome, and a latency
histogram per tool and engine. Nothing is per person: no IP, no User-Agent string, no identifier,
no cookie. The key space is bounded (paths and browsers are whitelisted, everything else is
"other"), so counts cannot be turned into a per-visitor trail. Every day's hashes expire after
365 days (the privacy policy promises at most 12 months). Counting never breaks a request:
while Redis fails nothing is counted (the quota's per-instance memory fallback is for limits, not
for statistics) and, for RETRY_S after a failure, Redis is not even asked.
"""

import contextlib
import datetime as dt
import math
import re
import time

from werkzeug.exceptions import RequestEntityTooLarge

from lib import config, quota
from lib.errors import ImgmendError, InvalidRequest, UpstreamUnavailable


TTL_S = 365 * 24 * 3600  # ≤ 12 months, the privacy policy's promise
PREFIX = "imgmend:stats"
MAX_DAYS = 90
# Upper bounds (ms) of the latency buckets; slower runs land in the last one (functions stop at 90 s).
LATENCY_BOUNDS_MS = (100, 250, 500, 1000, 2000, 3000, 5000, 10000, 20000, 30000, 60000, 120000)
# Pages of the site; any other path is counted as "other" so nobody can grow the key space.
KNOWN_PATHS = frozenset({  # the site's pages (tests/test_analytics.py checks this against public/)
    "/", "/denoise", "/remove-background", "/remove-watermark", "/pro", "/privacy", "/faq", "/about", "/terms",
    "/404",
})
# ua-parser families we report by name; the rest are "Other" (some rules copy text from the UA).
BROWSERS = frozenset({
    "Chrome", "Chrome Mobile", "Chrome Mobile iOS", "Chrome Mobile WebView", "Chromium", "Firefox",
    "Firefox Mobile", "Firefox iOS", "Safari", "Mobile Safari", "Mobile Safari UI/WKWebView", "Edge",
    "Edge Mobile", "Opera", "Opera Mobile", "Samsung Internet", "Yandex Browser", "UC Browser",
    "Vivaldi", "Brave", "DuckDuckGo Mobile", "IE", "Silk", "QQ Browser", "Whale", "Huawei Browser",
    "MiuiBrowser", "Facebook", "Instagram",
})
DEVICES = ("desktop", "mobile", "tablet", "bot")
_BOT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|facebookexternalhit|headless|lighthouse|pingdom|uptime|monitor"
    r"|preview|curl/|wget/|python|httpx|aiohttp|go-http|okhttp|java/|libwww|scrapy|axios|node-fetch",
    re.I,
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook|sm-t\d|nexus (7|9|10)\b", re.I)


def _today():
    return dt.datetime.now(dt.timezone.utc).date()


def _key(day, dimension):
    return f"{PREFIX}:{day.isoformat()}:{dimension}"


def normalise_path(path):
    """A site path as counted: lower case, no query, no trailing slash or .html; unknown -> other."""
    if not isinstance(path, str):
        return "other"
    path = path.split("?", 1)[0].split("#", 1)[0].strip().lower()[:200]
    if path.endswith(".html"):
        path = path[: -len(".html")]
    if path.endswith("/index"):
        path = path[: -len("index")]
    path = path.rstrip("/") or "/"
    return path if path in KNOWN_PATHS else "other"


def device_class(user_agent, parsed=None):
    """desktop, mobile, tablet or bot (a missing User-Agent is a script, so a bot).

    `parsed` is the ua-parser result when the caller already has it (parsing costs more than the rest).
    """
    if not user_agent or _BOT.search(user_agent):
        return "bot"
    parsed = parsed or _parse(user_agent)
    if parsed is not None and parsed.device and parsed.device.family == "Spider":
        return "bot"
    if _TABLET.search(user_agent) or ("Android" in user_agent and "Mobile" not in user_agent):
        return "tablet"
    if "Mobi" in user_agent or "iPhone" in user_agent or "Android" in user_agent:
        return "mobile"
    return "desktop"


def browser(user_agent, parsed=None):
    """Browser family and major version, e.g. "Chrome 131"; "Other" outside the known families."""
    parsed = parsed or _parse(user_agent or "")
    agent = parsed.user_agent if parsed is not None else None
    if agent is None or agent.family not in BROWSERS:
        return "Other"
    major = agent.major or ""
    return f"{agent.family} {major}" if re.fullmatch(r"\d{1,4}", major) else agent.family


def _parse(user_agent):
    from ua_parser import parse  # imported on first use: its rules take ~0.1 s to load

    try:
        return parse(user_agent[:512])
    except Exception:  # a parser bug must not cost a request
        return None


def country(header):
    """The two-letter country Vercel reports (x-vercel-ip-country), else "unknown"."""
    value = (header or "").strip().upper()
    return value if re.fullmatch(r"[A-Z]{2}", value) else "unknown"


def view_counts(path, user_agent, country_header):
    """The increments one page view adds, or None for a bot (bots are not counted)."""
    parsed = _parse(user_agent) if user_agent else None  # once, for the device and the browser
    device = device_class(user_agent, parsed)
    if device == "bot":
        return None
    day = _today()
    return [
        (_key(day, "views"), normalise_path(path), 1),
        (_key(day, "browser"), browser(user_agent, parsed), 1),
        (_key(day, "device"), device, 1),
        (_key(day, "country"), country(country_header), 1),
    ]


def _add(updates, what, expire_all=False):
    """Write increments to the shared store; a failing store costs the request nothing (not counted).

    One round trip, plus one for the expiries of keys this write created (`expire_all`: in the same
    one, for a caller that has already spent a round trip on this request)."""
    try:
        quota.shared(lambda store: store.hincr_many(updates, TTL_S, expire_all=expire_all), what)
    except UpstreamUnavailable:
        return False
    return True


def count_view(updates, store_asked=False):
    """Count one page view from view_counts(). Returns whether it was counted."""
    return _add(updates, "view", expire_all=store_asked)


def bucket(ms):
    """The latency bucket (its upper bound in ms) a duration falls into."""
    for bound in LATENCY_BOUNDS_MS:
        if ms <= bound:
            return bound
    return LATENCY_BOUNDS_MS[-1]


def record_run(tool, engine, outcome, ms):
    """Count one tool run by outcome; successful runs also go into the latency histogram."""
    day = _today()
    updates = [(_key(day, "runs"), f"{tool}:{outcome}", 1)]
    if outcome == "ok":  # the histogram is what users waited for a result, not how fast we refuse
        updates.append((_key(day, "latency"), f"{tool}:{engine}:{bucket(ms)}", 1))
    _add(updates, "run")


@contextlib.contextmanager
def tool_run(tool):
    """Count the tool run inside the block: `ok`, or the error code it raised, and its latency."""
    started = time.perf_counter()
    outcome = "internal_error"
    try:
        yield
        outcome = "ok"
    except ImgmendError as error:
        outcome = error.code
        raise
    except RequestEntityTooLarge:
        outcome = "payload_too_large"
        raise
    finally:
        record_run(tool, config.engine_name(), outcome, (time.perf_counter() - started) * 1000)


def percentile(histogram, q):
    """The q-quantile (0..1) of a {bound_ms: count} histogram, as its bucket's upper bound, or None."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bound in sorted(histogram):
        seen += histogram[bound]
        if seen >= rank:
            return bound
    return max(histogram)


def _day_report(raw):
    """One day's hashes -> the report shape (runs and latency nested by tool)."""
    runs, latency = {}, {}
    for field, count in raw["runs"].items():
        tool, _, outcome = field.partition(":")
        runs.setdefault(tool, {})[outcome] = count
    for field, count in raw["latency"].items():
        tool, engine, bound = field.split(":", 2)
        hist = latency.setdefault(tool, {}).setdefault(engine, {})
        hist[int(bound)] = hist.get(int(bound), 0) + count
    return {
        "views": raw["views"], "browsers": raw["browser"], "devices": raw["device"],
        "countries": raw["country"], "runs": runs, "latency": latency,
    }


def _merge(target, source):
    for name, value in source.items():
        if isinstance(value, dict):
            _merge(target.setdefault(name, {}), value)
        else:
            target[name] = target.get(name, 0) + value


def _latency_summary(latency):
    return {
        tool: {
            engine: {
                "count": sum(hist.values()),
                "p50_ms": percentile(hist, 0.5),
                "p95_ms": percentile(hist, 0.95),
                "histogram": {str(bound): hist.get(bound, 0) for bound in LATENCY_BOUNDS_MS},
            }
            for engine, hist in engines.items()
        }
        for tool, engines in latency.items()
    }


DIMENSIONS = ("views", "browser", "device", "country", "runs", "latency")


def parse_days(value):
    """The `days` of a stats request: a whole number from 1 to MAX_DAYS, else invalid_request."""
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= MAX_DAYS:
        raise InvalidRequest(f"days must be a whole number from 1 to {MAX_DAYS}.")
    return days


def report(days=7):
    """Aggregate counts for the last `days` UTC days (newest first) plus totals over them."""
    days = max(1, min(MAX_DAYS, int(days)))
    today = _today()
    dates = [today - dt.timedelta(days=n) for n in range(days)]
    keys = [_key(day, dim) for day in dates for dim in DIMENSIONS]
    try:
        hashes = quota.shared(lambda store: store.hgetall_many(keys), "report")
    except UpstreamUnavailable:
        raise UpstreamUnavailable("The statistics store is unreachable.") from None
    per_day, totals = [], {}
    for i, day in enumerate(dates):
        raw = dict(zip(DIMENSIONS, hashes[i * len(DIMENSIONS):(i + 1) * len(DIMENSIONS)]))
        entry = _day_report(raw)
        _merge(totals, entry)
        per_day.append({"date": day.isoformat(), **entry, "latency": _latency_summary(entry["latency"])})
    for name in ("views", "browsers", "devices", "countries", "runs", "latency"):
        totals.setdefault(name, {})
    totals["latency"] = _latency_summary(totals["latency"])
    return {
        "from": dates[-1].isoformat(), "to": today.isoformat(), "retention_days": TTL_S // 86400,
        "latency_bounds_ms": list(LATENCY_BOUNDS_MS), "totals": totals, "days": per_day,
    }
