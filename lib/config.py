"""Limits of the contract and settings read from the environment when used, never at import.

Every environment variable the project reads is named in SETTINGS and read through `env()`;
`.env.example` documents exactly these (tests/test_config.py checks both ways).
"""

import os
from urllib.parse import urlsplit

MB = 1024 * 1024
MAX_BYTES = 4 * MB  # 4,194,304: the contract's per-image cap
PLATFORM_BODY_BYTES = 4 * MB + 512 * 1024  # Vercel refuses request and response bodies over 4.5 MB
MAX_BODY_BYTES = PLATFORM_BODY_BYTES  # room for a mask and multipart framing beside the image
MAX_PIXELS = 40_000_000
MAX_RESPONSE_BYTES = 4 * MB + 256 * 1024  # results stay safely under the platform's 4.5 MB
FORMATS = ("JPEG", "PNG", "WEBP", "HEIF", "AVIF")
FORMAT_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC", "AVIF": "AVIF"}
# The media types a client may label each accepted format with (/api/config lists them all; the
# format itself is always decided from the bytes). iPhones label HEIF photos image/heic.
FORMAT_MEDIA_TYPES = {
    "JPEG": ("image/jpeg",),
    "PNG": ("image/png",),
    "WEBP": ("image/webp",),
    "HEIF": ("image/heic", "image/heif"),
    "AVIF": ("image/avif",),
}
# AVIF results up to this size are AVIF; larger ones are JPEG (WebP with alpha). libaom holds ~20 MB
# per megapixel while encoding, on top of the request's own images (vercel.json: 1024 MB).
AVIF_RESULT_MAX_PIXELS = 16_000_000
# Replicate must answer inside the function's maxDuration (vercel.json: 90 s), leaving time to
# cancel the prediction, delete the uploads and send the reply.
REPLICATE_DEADLINE_S = 75.0

SETTINGS = (
    "IMGMEND_ENGINE",
    "REPLICATE_API_TOKEN",
    "REPLICATE_BASE_URL",
    "REPLICATE_MODEL_DENOISE",
    "REPLICATE_MODEL_REMOVE_BG",
    "REPLICATE_MODEL_REMOVE_WATERMARK",
    "REPLICATE_DEPLOYMENT_DENOISE",
    "REPLICATE_DEPLOYMENT_REMOVE_BG",
    "REPLICATE_DEPLOYMENT_REMOVE_WATERMARK",
    "REPLICATE_TILE_CONCURRENCY",
    "REPLICATE_OUTPUT_HOSTS",
    "IMGMEND_SECRET",
    "REDIS_URL",
    "FREE_DAILY_LIMIT",
    "RATE_LIMIT_PER_MINUTE",
    "PRO_RATE_LIMIT_PER_MINUTE",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_PRICE_ID",
    "STRIPE_API_BASE",
    "STRIPE_PORTAL_LOGIN_URL",
    "PRO_DISPLAY_PRICE",
    "PUBLIC_BASE_URL",
    "IMGMEND_ADMIN_TOKEN",
    "IMGMEND_LOCAL_THREADS",
    "IMGMEND_LOCAL_JOBS",
    "IMGMEND_LOCAL_QUEUE",
    "IMGMEND_LOCAL_MAX_WAIT_S",
)


def size_label(n_bytes):
    """A byte count as the site says it: 4 MB, 4.5 MB (binary megabytes)."""
    return f"{n_bytes / MB:g} MB"


def pixels_label(n_pixels):
    """A pixel count as the site says it: 40 megapixels."""
    return f"{n_pixels / 1_000_000:g} megapixels"


def formats_label(formats=FORMATS):
    """The accepted formats in words: "JPEG, PNG, WebP, HEIC or AVIF"."""
    names = [FORMAT_NAMES[f] for f in formats]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def env(name, default=None):
    """One environment variable from SETTINGS, empty treated as unset."""
    if name not in SETTINGS:
        raise KeyError(f"{name} is not a setting of this project (add it to lib/config.SETTINGS)")
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name, default):
    """An integer variable; a malformed value falls back to the default."""
    try:
        return int(env(name, default))
    except (TypeError, ValueError):
        return default


def engine_name():
    """`local` or `replicate`: IMGMEND_ENGINE, else replicate when a token is set."""
    chosen = (env("IMGMEND_ENGINE") or "").lower()
    if chosen in ("local", "replicate"):
        return chosen
    return "replicate" if env("REPLICATE_API_TOKEN") else "local"


def free_daily_limit():
    """Free images per client per UTC day."""
    return max(0, env_int("FREE_DAILY_LIMIT", 5))


def rate_limit_per_minute():
    """Image requests per client per minute."""
    return max(1, env_int("RATE_LIMIT_PER_MINUTE", 20))


def pro_rate_limit_per_minute():
    """Image runs per Pro customer per minute, across every address the key is used from."""
    return max(1, env_int("PRO_RATE_LIMIT_PER_MINUTE", 30))


def local_threads():
    """Threads each local-engine model may use (IMGMEND_LOCAL_THREADS, default 2)."""
    return max(1, env_int("IMGMEND_LOCAL_THREADS", 2))


def local_jobs():
    """Local-engine jobs at once (IMGMEND_LOCAL_JOBS), or None for what the machine allows."""
    value = env_int("IMGMEND_LOCAL_JOBS", 0)
    return value if value > 0 else None


def local_queue(jobs):
    """Local-engine jobs that may wait for a slot (IMGMEND_LOCAL_QUEUE, default twice the jobs)."""
    return max(0, env_int("IMGMEND_LOCAL_QUEUE", 2 * jobs))


def local_max_wait_s():
    """The longest a queued local-engine job waits before it is told to retry (default 60 s)."""
    return max(1, env_int("IMGMEND_LOCAL_MAX_WAIT_S", 60))


def replicate_tile_concurrency():
    """Tile predictions of one denoise run in flight at once (REPLICATE_TILE_CONCURRENCY, default 6).

    Six is every tile of a 12 MP photo at once (3x2 tiles of ~2.3 MP); 1 to 16.
    """
    return min(16, max(1, env_int("REPLICATE_TILE_CONCURRENCY", 6)))


def replicate_output_hosts():
    """Hosts model outputs may be downloaded from over https, each with its subdomains.

    REPLICATE_OUTPUT_HOSTS, comma-separated; default `replicate.delivery`, where Replicate serves
    output files. Entries are lower-cased; a leading `*.` or `.` is the same as the bare name.
    """
    raw = env("REPLICATE_OUTPUT_HOSTS", "replicate.delivery")
    hosts = []
    for entry in raw.split(","):
        entry = entry.strip().lower().rstrip(".")
        entry = entry[2:] if entry.startswith("*.") else entry.lstrip(".")
        if entry:
            hosts.append(entry)
    return tuple(hosts)


def secrets():
    """IMGMEND_SECRET as a list, newest first (comma-separated for rotation)."""
    return [s.strip() for s in (env("IMGMEND_SECRET") or "").split(",") if s.strip()]


def public_base_url():
    """The site's public origin (Stripe return URLs), without a trailing slash."""
    return (env("PUBLIC_BASE_URL") or "http://127.0.0.1:3000").rstrip("/")


def origin_of(url):
    """The origin (`scheme://host[:port]`, lower case, default port dropped) of a URL, or None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except (AttributeError, ValueError):
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def public_origin():
    """The origin of PUBLIC_BASE_URL: the one site whose pages may spend this site's quota."""
    return origin_of(public_base_url())


def portal_login_url():
    """STRIPE_PORTAL_LOGIN_URL: the customer portal's no-code login link (email + one-time code)."""
    return env("STRIPE_PORTAL_LOGIN_URL")
