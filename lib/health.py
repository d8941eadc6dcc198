"""Service health: is each dependency the configured engine needs reachable or present?

Cheap by design (a monitor may call it every minute): one Redis PING, environment look-ups, and
find_spec for the local engine's packages and a look for its weights file — nothing is imported or
loaded. Answers booleans only, and how this instance counts (`counters`: redis, memory, or
memory-fallback while Redis fails): no secret, no version, no host name.
"""

import importlib.util

from lib import config, quota
from lib.errors import Unhealthy

LOCAL_PACKAGES = ("numpy", "cv2", "onnxruntime", "pyoidn")  # and the weights' package, via weights.present


def _redis():
    """True/False when REDIS_URL is set; None when it is not (counters live in memory)."""
    if not config.env("REDIS_URL"):
        return None
    try:
        return quota.counters().ping()
    except Exception:
        return False


def _local_engine():
    # find_spec on top-level names locates packages without running their (heavy) __init__.
    if not all(importlib.util.find_spec(name) is not None for name in LOCAL_PACKAGES):
        return False
    from lib.engines.local import weights  # only here: production answers health without the local engine

    return weights.present(weights.BACKGROUND)


def check():
    """The health document; raises Unhealthy (503) naming what a request would fail on."""
    engine = config.engine_name()
    checks = {
        "redis": _redis(),
        "secret": bool(config.secrets()),
        "replicate": bool(config.env("REPLICATE_API_TOKEN")),
        "stripe": all(config.env(n) for n in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_PRICE_ID")),
        "local_engine": _local_engine(),
    }
    # Stripe is optional (without it the site simply sells no Pro); the rest depend on the setup.
    required = ["replicate" if engine == "replicate" else "local_engine"]
    if checks["redis"] is not None:
        required += ["redis", "secret"]  # shared counters need one IMGMEND_SECRET across instances
    counters = "memory-fallback" if checks["redis"] is False else quota.mode()
    failing = [name for name in required if not checks[name]]
    if failing:
        raise Unhealthy(f"Not ready: {', '.join(failing)}.", ok=False, failing=failing, engine=engine,
                        counters=counters, checks=checks)
    return {"ok": True, "engine": engine, "counters": counters, "checks": checks}
