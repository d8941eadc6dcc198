"""POST /api/event — count one anonymous page view (sent by /beacon.js with navigator.sendBeacon)."""

from werkzeug.wrappers import Response

from lib import events, http


@http.endpoint("POST")
def app(request):
    """Count the page view in the aggregate counters; always 204, counted or not (GPC/DNT/bots)."""
    events.page_view(request)
    return Response(status=204)
