"""The loopback fake Replicate (tests/support/fake_replicate.py) with a fixed model latency, for the benches.

Every prediction takes `latency_s` from its create request, warm (no cold start, no cost per pixel):
the fake's own timing model with `fixed_timings`. A create sent with `Prefer: wait=N` is held like
the real API holds it, up to min(N, `wait_cap_s`) seconds; a `wait_cap_s` below the latency makes
the engine poll, as a prediction that outlives the real 60 s window does. It forgets uploads and
outputs once used (`keep_records = False`), so a long load run stays bounded, and counts the GETs
of predictions in `polls`.
"""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support.fake_replicate import REAL_MAX_WAIT_S, FakeReplicate, fixed_timings  # noqa: E402


class FixedLatencyReplicate(FakeReplicate):
    """FakeReplicate whose every prediction takes `latency_s` seconds of model time."""

    def __init__(self, latency_s, wait_cap_s=REAL_MAX_WAIT_S, **kwargs):
        super().__init__(timings=fixed_timings(latency_s), wait_cap_s=wait_cap_s, **kwargs)
        self.latency_s = latency_s
        self.keep_records = False
        self.polls = 0  # GETs of predictions
        self._polls_lock = threading.Lock()

    def _route_get(self, request, prediction_id, payload=None):
        with self._polls_lock:
            self.polls += 1
        return super()._route_get(request, prediction_id, payload=payload)
