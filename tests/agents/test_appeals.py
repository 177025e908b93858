"""Appeal commands inside the guard, data in and data out (``agents.appeals``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.envelope import wrap
from schemas.appeals import Appeal, FileAppeal, parse_appeal_form
from tests.agents.test_ingest import Rig
from tests.integration.traffic import event

FORM = parse_appeal_form(json.dumps({
    "channel": "marketing", "opt_out_list_imported": True, "lists_cleaned": True,
    "contact_source": "trade fair", "emailed_within_last_year": True, "details": "cleaned",
}).encode())  # fmt: skip


def _file(rig: Rig, account: str) -> dict[str, object]:
    appeal = Appeal(appeal_id=f"ap-{account}", account_id=account, channel="marketing",
                    kind="appeal", queue="deliverability", tier="legacy",
                    suspension_reason="abuse_complaint", suspension_type="deliverability",
                    form=FORM, filed_at=datetime.now(UTC))  # fmt: skip
    rig.feed("sendguard.events", 0, [wrap(FileAppeal(command_id="c-1", appeal=appeal))])
    ((command_id, result),) = rig.ingest.answers
    assert (command_id, result.status) == ("c-1", 201)
    return result.body


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path, partitions=1)


@pytest.mark.parametrize(
    ("contact", "csm", "notified", "warned"),
    [
        ("it@old-co.test", "csm@platform.test", ["it@old-co.test", "csm@platform.test"], False),
        (None, "csm@platform.test", ["csm@platform.test"], True),
        (None, None, None, True),
    ],
)
def test_a_legacy_appeal_without_a_contact_is_told_to_the_operator(
    rig: Rig, contact: str | None, csm: str | None, notified: list[str] | None, warned: bool
) -> None:
    rig.feed("accounts", 0, [{"account_id": "old-co", "tier": "legacy",
                              "primary_contact": contact, "csm": csm}])  # fmt: skip
    rig.feed("email.abuse-desk", 0, [event("email.abuse-desk", "old-co", complaint_id="x-1")])
    answer = _file(rig, "old-co")
    notes = [value for _, _, value, _ in rig.out("sendguard.notifications")]
    assert [n["to"] for n in notes] == ([notified] if notified else [])
    unaddressed = rig.metrics.registry.get_sample_value(
        "sendguard_unaddressed_notifications_total")
    assert unaddressed == (1.0 if warned else 0.0)
    if warned:
        assert "no primary_contact" in str(answer["warning"])
    else:
        assert "warning" not in answer
