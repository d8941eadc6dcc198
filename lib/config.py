"""Settings read from the environment when used, never at import (secrets stay out of module state)."""

import os

MAX_BYTES = 4 * 1024 * 1024  # 4,194,304: the contract's per-image cap
MAX_BODY_BYTES = MAX_BYTES + 512 * 1024  # room for a mask and multipart framing; Vercel stops at 4.5 MB
MAX_PIXELS = 40_000_000
MAX_RESPONSE_BYTES = 4 * 1024 * 1024 + 256 * 1024  # keep results under Vercel's 4.5 MB response cap
FORMATS = ("JPEG", "PNG", "WEBP")
TOOLS = ("denoise", "remove_bg", "remove_watermark")
# Replicate must answer inside the function's maxDuration (vercel.json: 90 s), leaving time to
# cancel the prediction, delete the uploads and send the reply.
REPLICATE_DEADLINE_S = 75.0


def env(name, default=None):
    """One environment variable, empty treated as unset."""
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


def secrets():
    """IMGMEND_SECRET as a list, newest first (comma-separated for rotation)."""
    return [s.strip() for s in (env("IMGMEND_SECRET") or "").split(",") if s.strip()]
