"""A request forwarded between workers is signed: method, path, body and time."""

from __future__ import annotations

import aiohttp
from aiohttp.client_reqrep import RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from api.forwarding import HOP_VALID_S, hop_is_genuine, redacted, sign_hop

KEY, OTHER = b"k" * 32, b"o" * 32


def test_a_signature_covers_method_path_body_and_time() -> None:
    header = sign_hop(KEY, "POST", "/appeals/x/decision?", b'{"a":1}', 1_000)
    assert hop_is_genuine([KEY], header, "POST", "/appeals/x/decision?", b'{"a":1}', 1_010)
    assert hop_is_genuine([OTHER, KEY], header, "POST", "/appeals/x/decision?", b'{"a":1}', 1_010)
    assert not hop_is_genuine([OTHER], header, "POST", "/appeals/x/decision?", b'{"a":1}', 1_010)
    assert not hop_is_genuine([KEY], header, "GET", "/appeals/x/decision?", b'{"a":1}', 1_010)
    assert not hop_is_genuine([KEY], header, "POST", "/appeals/y/decision?", b'{"a":1}', 1_010)
    assert not hop_is_genuine([KEY], header, "POST", "/appeals/x/decision?", b'{"a":2}', 1_010)
    late = 1_000 + HOP_VALID_S + 1
    assert not hop_is_genuine([KEY], header, "POST", "/appeals/x/decision?", b'{"a":1}', late)


def test_hostile_headers_are_not_genuine() -> None:
    for header in ("1", "", ".", "x.y", "1000.", "1000.é", "9" * 40 + ".x", "-5.abc"):
        assert not hop_is_genuine([KEY], header, "GET", "/", b"", 1_000)
    assert not hop_is_genuine([], sign_hop(KEY, "GET", "/", b"", 1_000), "GET", "/", b"", 1_000)


def test_a_failed_hop_is_logged_without_the_callers_token() -> None:
    headers = CIMultiDictProxy(CIMultiDict({"Authorization": "Bearer op_0123_secretpart"}))
    info = RequestInfo(URL("http://127.0.0.1:1/accounts/a"), "GET", headers,
                       URL("http://127.0.0.1:1/accounts/a"))  # fmt: skip
    error = aiohttp.ClientResponseError(info, (), status=502, message="Bearer sga1.x.y.z")
    assert "secretpart" in repr(error)  # what the log held before
    text = redacted(error)
    assert "Bearer" not in text and "sga1" not in text and "secretpart" not in text
    assert text.startswith("ClientResponseError: 502")
