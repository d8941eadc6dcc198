"""Short-lived signed Pro tokens (itsdangerous): purpose salt, key rotation, expiry."""

import datetime as dt
import hashlib

import time

from itsdangerous import BadData, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from lib import config
from lib.errors import InvalidToken, NotConfigured

SALT = "imgmend.pro-token.v1"  # a token for anything else signed with the same key never verifies
MAX_AGE_S = 12 * 3600  # a visit's worth; the policy promises Pro "for the visit", not for ever


def _serializer():
    keys = config.secrets()
    if not keys:
        raise NotConfigured("IMGMEND_SECRET is not set.")
    # itsdangerous signs with the last key and accepts all of them: newest last.
    return URLSafeTimedSerializer(
        list(reversed(keys)), salt=SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )


def _canonical(token):
    """Whether every base64 part is in canonical form.

    Base64 ignores the spare low bits of a part's last character, so a token with that character
    changed still decodes to the same bytes; we refuse such variants outright.
    """
    try:
        return all(base64_encode(base64_decode(part)).decode() == part for part in token.lstrip(".").split("."))
    except (BadData, ValueError, UnicodeError):
        return False


def issue_token(customer_id, not_after=None):
    """A token for this Pro customer; returns (token, expires_at datetime in UTC).

    `not_after` caps the expiry (e.g. the end of the paid subscription period).
    """
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    expires = now + dt.timedelta(seconds=MAX_AGE_S)
    if not_after is not None and not_after < expires:
        expires = not_after
    payload = {"c": customer_id, "e": int(expires.timestamp())}
    return _serializer().dumps(payload), expires


def verify_token(token):
    """The customer id a valid token names; InvalidToken for forged, tampered or expired ones."""
    if not isinstance(token, str) or not _canonical(token):
        raise InvalidToken()
    try:
        payload = _serializer().loads(token, max_age=MAX_AGE_S)
    except (BadData, UnicodeError, ValueError, TypeError):
        raise InvalidToken() from None
    if not isinstance(payload, dict) or not isinstance(payload.get("c"), str):
        raise InvalidToken()
    if not isinstance(payload.get("e"), int) or payload["e"] < time.time():
        raise InvalidToken()
    return payload["c"]
