"""lib.tokens: signed Pro tokens: tamper, expiry, cap, key rotation, purpose."""

import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from lib import tokens


def test_token_round_trip_and_every_single_byte_tamper():
    token, _ = tokens.issue_token("cus_Roundtrip123")
    assert tokens.verify_token(token) == "cus_Roundtrip123"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for i, ch in enumerate(token):
        other = alphabet[(alphabet.index(ch) + 1) % len(alphabet)]
        with pytest.raises(Exception) as caught:
            tokens.verify_token(token[:i] + other + token[i + 1 :])
        assert caught.value.code == "invalid_token", i


def test_token_expires(monkeypatch):
    token, expires = tokens.issue_token("cus_Expiring1234")
    later = time.time() + tokens.MAX_AGE_S + 5
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Exception) as caught:
        tokens.verify_token(token)
    assert caught.value.code == "invalid_token"


def test_token_capped_by_the_subscription_end(monkeypatch):
    import datetime as dt

    soon = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=2)
    token, expires = tokens.issue_token("cus_Capped123456", not_after=soon)
    assert expires == soon and tokens.verify_token(token)
    monkeypatch.setattr(time, "time", lambda: soon.timestamp() + 5)
    with pytest.raises(Exception):
        tokens.verify_token(token)


def test_key_rotation(monkeypatch):
    monkeypatch.setenv("IMGMEND_SECRET", "old-key")
    old_token, _ = tokens.issue_token("cus_Rotation1234")
    monkeypatch.setenv("IMGMEND_SECRET", "new-key,old-key")
    assert tokens.verify_token(old_token) == "cus_Rotation1234"
    new_token, _ = tokens.issue_token("cus_Rotation1234")
    monkeypatch.setenv("IMGMEND_SECRET", "new-key")
    assert tokens.verify_token(new_token) == "cus_Rotation1234"
    with pytest.raises(Exception):
        tokens.verify_token(old_token)


@pytest.mark.parametrize("salt", [tokens.SALT, "another-purpose"])
def test_token_signed_under_another_secret_or_purpose_is_rejected(salt):
    forged = URLSafeTimedSerializer("not-our-secret" if salt == tokens.SALT else "test-secret-one", salt=salt)
    token = forged.dumps({"c": "cus_Forged123456", "e": int(time.time()) + 3600})
    with pytest.raises(Exception) as caught:
        tokens.verify_token(token)
    assert caught.value.code == "invalid_token"


def test_claims_say_how_and_when_pro_was_shown():
    token, _ = tokens.issue_token("cus_Claims1234567", source="checkout", checked_at=1_900_000_000)
    assert tokens.read_token(token) == ("cus_Claims1234567", "checkout", 1_900_000_000)
    plain, _ = tokens.issue_token("cus_Claims1234567")
    claims = tokens.read_token(plain)
    assert claims.source == "key" and abs(claims.checked_at - time.time()) < 5
    with pytest.raises(ValueError):
        tokens.issue_token("cus_Claims1234567", source="admin")


def test_a_token_from_before_the_claims_counts_as_a_key_checked_when_signed():
    old = tokens._serializer().dumps({"c": "cus_OldToken12345", "e": int(time.time()) + 3600})
    claims = tokens.read_token(old)
    assert claims.source == "key" and abs(claims.checked_at - time.time()) < 5


def test_an_oversized_token_is_refused_before_it_is_decoded(monkeypatch):
    genuine, _ = tokens.issue_token("cus_Oversized1234")
    monkeypatch.setattr(tokens, "_canonical", lambda token: pytest.fail("decoded"))
    with pytest.raises(Exception) as caught:
        tokens.read_token(genuine + "A" * tokens.MAX_CHARS)
    assert caught.value.code == "invalid_token"
