"""Console sessions: a signed cookie that only its keys can make, read back or refuse."""

from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from api.console.session import MAX_COOKIE_CHARS, TTL_S, csrf_matches, issue, read
from api.operators import Operator

KEY, OTHER = b"k" * 32, b"o" * 32
NOW = 1_800_000_000.0


def test_a_cookie_reads_back_as_its_session_until_it_expires() -> None:
    value, session = issue([KEY], Operator("alice", "decider"), NOW)
    assert read([KEY], value, NOW + 1) == session
    assert (session.name, session.role, session.expires) == ("alice", "decider", NOW + TTL_S)
    assert read([KEY], value, NOW + TTL_S) is None  # expired
    assert read([OTHER, KEY], value, NOW) == session  # the previous key still reads it
    assert read([OTHER], value, NOW) is None


def test_a_changed_payload_is_refused() -> None:
    value, _ = issue([KEY], Operator("vera", "viewer"), NOW)
    payload, _, mac = value.partition(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    fields["r"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")
    assert read([KEY], f"{forged}.{mac}", NOW) is None


@given(st.text(max_size=2 * MAX_COOKIE_CHARS))
def test_any_cookie_value_is_a_session_or_none_and_never_raises(value: str) -> None:
    assert read([KEY], value, NOW) is None


def test_csrf_token_must_be_the_sessions() -> None:
    _, session = issue([KEY], Operator("alice", "admin"), NOW)
    assert csrf_matches(session, session.csrf)
    assert not csrf_matches(session, None)
    assert not csrf_matches(session, "")
    assert not csrf_matches(session, session.csrf + "x")
    _, other = issue([KEY], Operator("alice", "admin"), NOW)
    assert other.csrf != session.csrf
