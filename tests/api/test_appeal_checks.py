"""The order of an appeal's checks: who may appeal and what state come before the form.

A free account, or one with nothing suspended, must hear that (403, 409) rather than be
asked to complete a form it can never file (422).
"""

from __future__ import annotations

import base64
import json

import pytest

from api.accounts import HttpError, account_of_appeal, admit_filing, appeal_id_for
from policy.state import AccountState
from schemas.appeals import InvalidRequest, parse_operator_decision
from schemas.types import ChannelStatus

COMPLETE = {
    "channel": "marketing", "opt_out_list_imported": True, "lists_cleaned": True,
    "contact_source": "sign-up form", "emailed_within_last_year": True,
    "details": "removed the bought list",
}  # fmt: skip
INCOMPLETE = json.dumps({"channel": "marketing", "details": "please"}).encode()


def _account(state: str) -> AccountState:
    account = AccountState.new("acme")
    account.channel("marketing").status = ChannelStatus(state=state, reason="hard_bounce_rate",
                                                        suspension_type="deliverability")  # fmt: skip
    return account


@pytest.mark.parametrize(
    ("tier", "state", "status", "says"),
    [
        ("free", "suspended", 403, "free accounts cannot appeal"),
        ("starter", "active", 409, "not suspended"),
        ("free", "warned", 409, "not suspended"),
    ],
)
def test_tier_and_state_are_checked_before_the_form(tier, state, status, says) -> None:
    with pytest.raises(HttpError) as info:
        admit_filing(INCOMPLETE, tier, _account(state))
    assert info.value.status == status and says in str(info.value)


def test_an_admitted_appeal_with_an_incomplete_form_is_422() -> None:
    with pytest.raises(InvalidRequest, match="opt_out_list_imported"):
        admit_filing(INCOMPLETE, "starter", _account("suspended"))


def test_a_body_that_is_not_an_appeal_is_422_first() -> None:
    with pytest.raises(InvalidRequest, match="not JSON"):
        admit_filing(b"{nope", "free", _account("active"))
    with pytest.raises(InvalidRequest, match="channel"):
        admit_filing(json.dumps({"channel": "sms"}).encode(), "free", _account("active"))


def test_a_complete_appeal_is_admitted() -> None:
    form, admission = admit_filing(json.dumps(COMPLETE).encode(), "starter", _account("suspended"))
    assert (form.channel, admission.accepted, admission.queue) == ("marketing", True, "deliverability")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"[" * 1000 + b"]" * 1000, "nested too deep"),
        (b'{"decision": "deny", "note": "\xff\xfe"}', "not UTF-8"),
        (b"\xff" * 10, "not JSON"),
    ],
)
def test_a_body_no_decoder_can_read_is_422_naming_the_body(raw: bytes, why: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_operator_decision(raw)
    assert caught.value.field == "body" and why in str(caught.value)


@pytest.mark.parametrize("account_id", ["acme", "ü" * 200, "😀" * 200])
def test_an_appeal_id_carries_its_account(account_id: str) -> None:
    assert account_of_appeal(appeal_id_for(account_id)) == account_id


def _carrying(raw: bytes) -> str:
    return "ap-0123456789abcdef-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "appeal_id",
    [
        "nope", "ap-0123456789abcdef-", "xx-0123456789abcdef-YWNtZQ", "ap-0123-@@@@",
        _carrying(b"\xff\xfe"),  # not UTF-8
        _carrying(("a" * 201).encode()),  # an account id no event can carry
        _carrying(b"acme\nevil"),  # a control character
        "ap-0123456789abcdef-" + "A" * 2000,  # longer than any appeal id
    ],
)
def test_an_appeal_id_no_appeal_can_have_is_not_found(appeal_id: str) -> None:
    """Refused at once with 404: handed to the guard, its command would be dead-lettered
    and the caller would wait 15 s for a 503."""
    with pytest.raises(HttpError) as caught:
        account_of_appeal(appeal_id)
    assert caught.value.status == 404
