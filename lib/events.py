"""The page-view beacon (`POST /api/event`): privacy signals first, then a per-client limit, then
one aggregate count."""

import json

from lib import analytics, http, quota
from lib.errors import InvalidRequest, PayloadTooLarge

MAX_EVENT_BYTES = 1024  # {"path": "/remove-watermark"} is ~30 bytes; anything big is not ours


def opted_out(request):
    """True when the browser sends Global Privacy Control or Do Not Track."""
    return request.headers.get("Sec-GPC", "").strip() == "1" or request.headers.get("DNT", "").strip() == "1"


def _read_path(request):
    """The `path` of a small JSON body (sendBeacon sends strings as text/plain, so any type)."""
    if request.content_length is not None and request.content_length > MAX_EVENT_BYTES:
        raise PayloadTooLarge("The event body is too large.")
    body = request.stream.read(MAX_EVENT_BYTES + 1)
    if len(body) > MAX_EVENT_BYTES:
        raise PayloadTooLarge("The event body is too large.")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The body must be JSON like {\"path\": \"/\"}.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("path"), str):
        raise InvalidRequest("The body must be JSON like {\"path\": \"/\"}.")
    return payload["path"]


def page_view(request):
    """Count one page view unless the visitor opted out, it is a bot, it came from another of our
    sites, or its client already had VIEWS_PER_MINUTE counted this minute.

    A counted view costs at most two store round trips (a lease, then the pipelined writes); one
    past the limit costs none once this instance knows the minute is used up.
    """
    path = _read_path(request)
    if opted_out(request):
        return False
    # Other sites are refused at the boundary (403); a sibling subdomain would only inflate counts.
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    updates = analytics.view_counts(path, request.headers.get("User-Agent", ""), request.headers.get("X-Vercel-IP-Country"))
    if updates is None:
        return False
    admitted, store_asked = quota.admit_view(quota.client_id(http.client_network(request)))
    return admitted and analytics.count_view(updates, store_asked)
