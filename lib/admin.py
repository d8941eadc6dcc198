"""The operator's bearer token for the admin-only endpoints (IMGMEND_ADMIN_TOKEN)."""

import hmac

from lib import config, http
from lib.errors import InvalidAdminToken, NotConfigured


def require_admin(request):
    """Raise unless the request carries `Authorization: Bearer <IMGMEND_ADMIN_TOKEN>`."""
    expected = config.env("IMGMEND_ADMIN_TOKEN")
    if not expected:
        raise NotConfigured("Statistics are off: IMGMEND_ADMIN_TOKEN is not set.")
    given = http.bearer_token(request) or ""
    # Constant time, so the token cannot be guessed byte by byte from response timings.
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise InvalidAdminToken()
