"""Short-lived signed Pro tokens (itsdangerous): purpose salt, key rotation, expiry, and claims.

Claims: `c` the Stripe customer, `e` the expiry, `t` when Stripe was asked (a revocation after it
refuses the token), `s` how Pro was shown: `checkout` (a paid Checkout Session, the buyer's own
tab) or `key` (a Pro key, which anyone who has seen it can type).
"""

import datetime as dt
import hashlib
import time
from typing import NamedTuple

from itsdangerous import BadData, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from lib import config
from lib.errors import InvalidToken, NotConfigured

SALT = "imgmend.pro-token.v1"  # a token for anything else signed with the same key never verifies
MAX_AGE_S = 12 * 3600  # a visit's worth; the policy promises Pro "for the visit", not for ever
MAX_CHARS = 1024  # ours are ~200 characters; a longer one is refused before it is decoded
SOURCES = ("checkout", "key")


class Claims(NamedTuple):
    """What a valid token says."""

    customer: str
    source: str  # "checkout" or "key"
    checked_at: int  # Unix time at which Stripe confirmed Pro


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


def issue_token(customer_id, not_after=None, source="key", checked_at=None):
    """A token for this Pro customer; returns (token, expires_at datetime in UTC).

    `not_after` caps the expiry (e.g. the end of the paid subscription period); `checked_at` is
    when Stripe was asked (default now), `source` how Pro was shown (SOURCES).
    """
    if source not in SOURCES:
        raise ValueError(source)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    expires = now + dt.timedelta(seconds=MAX_AGE_S)
    if not_after is not None and not_after < expires:
        expires = not_after
    checked = int(now.timestamp() if checked_at is None else checked_at)
    payload = {"c": customer_id, "e": int(expires.timestamp()), "t": checked, "s": source}
    return _serializer().dumps(payload), expires


def read_token(token):
    """The Claims of a valid token; InvalidToken for forged, tampered, expired or oversized ones."""
    if not isinstance(token, str) or len(token) > MAX_CHARS or not _canonical(token):
        raise InvalidToken()
    try:
        payload, signed = _serializer().loads(token, max_age=MAX_AGE_S, return_timestamp=True)
    except (BadData, UnicodeError, ValueError, TypeError):
        raise InvalidToken() from None
    if not isinstance(payload, dict) or not isinstance(payload.get("c"), str):
        raise InvalidToken()
    if not isinstance(payload.get("e"), int) or payload["e"] < time.time():
        raise InvalidToken()
    # Tokens issued before the `t` and `s` claims: checked when signed, shown by a key.
    checked = payload.get("t")
    if not isinstance(checked, int) or isinstance(checked, bool):
        checked = int(signed.timestamp())
    source = payload.get("s") if payload.get("s") in SOURCES else "key"
    return Claims(payload["c"], source, checked)


def verify_token(token):
    """The customer id a valid token names; InvalidToken for forged, tampered or expired ones."""
    return read_token(token).customer
