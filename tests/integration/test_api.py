"""The HTTP API against a real worker and broker: auth, appeals per tier, restore, review."""

from __future__ import annotations

import pytest

from tests.integration.http import (
    AUTH_ENV,
    OPERATOR_TOKEN,
    account_token,
    appeal_form,
    call,
)
from tests.integration.traffic import bounces, deliveries, event

pytestmark = pytest.mark.integration


def account(account_id: str, tier: str, **fields: object) -> dict:
    return {
        "topic": "accounts", "account_id": account_id, "tier": tier,
        "primary_contact": f"owner@{account_id}.example", **fields,
    }  # fmt: skip


def abuse(account_id: str, channel: str = "marketing") -> dict:
    return event("email.abuse-desk", account_id, channel=channel, complaint_id="c1")


async def test_auth_on_every_endpoint(worker_factory, pipeline) -> None:
    worker = worker_factory(**AUTH_ENV)
    base = worker.url("")
    await pipeline.send([account("acme", "starter"), abuse("acme")])
    await pipeline.wait_drained()
    form = appeal_form()
    endpoints = [
        ("GET", "/accounts/acme", None),
        ("GET", "/accounts/acme/decisions", None),
        ("POST", "/accounts/acme/appeals", form),
        ("POST", "/appeals/ap-0000-YWNtZQ/decision", {"decision": "deny", "note": "no"}),
    ]
    for method, path, body in endpoints:
        assert (await call(base, method, path, None, body)).status == 401, path
        assert (await call(base, method, path, "garbage", body)).status == 401, path
        forged = account_token("acme")[:-3] + "abc"
        assert (await call(base, method, path, forged, body)).status == 401, path
        other = await call(base, method, path, account_token("someone-else"), body)
        assert other.status == 403, (path, other.text)

    assert (await call(base, "GET", "/accounts/acme", account_token("acme"))).status == 200
    assert (await call(base, "GET", "/accounts/acme", OPERATOR_TOKEN)).status == 200
    filed = await call(base, "POST", "/accounts/acme/appeals", account_token("acme"), form)
    assert filed.status == 201, filed.text
    by_operator = await call(base, "POST", "/accounts/acme/appeals", OPERATOR_TOKEN, form)
    assert by_operator.status == 403
    appeal_id = filed.json()["appeal_id"]
    path = f"/appeals/{appeal_id}/decision"
    by_account = await call(base, "POST", path, account_token("acme"), {"decision": "restore"})
    assert by_account.status == 403
    decided = await call(base, "POST", path, OPERATOR_TOKEN, {"decision": "deny", "note": "x"})
    assert decided.status == 200, decided.text
    # Open endpoints need no token.
    assert (await call(base, "GET", "/healthz")).status == 200
    assert (await call(base, "GET", "/metrics")).status == 200


async def test_appeal_rules_per_tier(worker_factory, pipeline) -> None:
    worker = worker_factory(**AUTH_ENV)
    base = worker.url("")
    tiers = ["free", "starter", "professional", "enterprise", "trial", "legacy"]
    records = [account(f"acct-{t}", t, csm=f"csm@{t}.example") for t in tiers]
    records += [abuse(f"acct-{t}") for t in tiers]
    records += [account("calm", "starter"), account("trapped", "starter")]
    records += [event("email.spam-trap", "trapped", trap_kind="pristine")]
    records += [account("free-crm", "free"), abuse("free-crm", channel="crm")]
    await pipeline.send(records)
    await pipeline.wait_drained()

    async def appeal(account_id: str, **form: object) -> object:
        return await call(
            base, "POST", f"/accounts/{account_id}/appeals", account_token(account_id),
            appeal_form(**form),
        )  # fmt: skip

    free = await appeal("acct-free")
    assert free.status == 403 and "free accounts cannot appeal" in free.json()["error"]
    for tier in ["starter", "professional", "enterprise", "trial", "legacy"]:
        reply = await appeal(f"acct-{tier}")
        assert reply.status == 201, (tier, reply.text)
        assert reply.json()["status"] == "pending"
        assert reply.json()["queue"] == "deliverability"
    calm = await appeal("calm")
    assert calm.status == 409 and "not suspended" in calm.json()["error"]
    fraud = await appeal("trapped")
    assert fraud.status == 201 and fraud.json()["queue"] == "fraud-review"
    crm = await appeal("free-crm", channel="crm")
    assert crm.status == 201 and crm.json()["queue"] == "crm"

    for field, value in [
        ("opt_out_list_imported", False), ("lists_cleaned", None),
        ("emailed_within_last_year", False), ("contact_source", " "), ("details", ""),
        ("channel", "sms"),
    ]:  # fmt: skip
        form = appeal_form(**{field: value})
        if value is None:
            del form[field]
        reply = await call(
            base, "POST", "/accounts/acct-starter/appeals", account_token("acct-starter"), form
        )
        assert reply.status == 422, (field, reply.text)
        assert reply.json()["field"] == field
    not_json = await call(
        base, "POST", "/accounts/acct-starter/appeals", account_token("acct-starter"),
        raw=b"{oops",
    )  # fmt: skip
    assert not_json.status == 422 and not_json.json()["field"] == "body"
    huge = await call(
        base, "POST", "/accounts/acct-starter/appeals", account_token("acct-starter"),
        raw=b" " * 70_000,
    )  # fmt: skip
    assert huge.status == 413

    notifications = [r.json() for r in await pipeline.read("sendguard.notifications")]
    assert len(notifications) == 1
    assert notifications[0]["account_id"] == "acct-legacy"
    assert sorted(notifications[0]["to"]) == ["csm@legacy.example", "owner@acct-legacy.example"]
    audit = [r.json() for r in await pipeline.read("sendguard.appeals")]
    assert {a["account_id"] for a in audit} == {
        "acct-starter", "acct-professional", "acct-enterprise", "acct-trial", "acct-legacy",
        "trapped", "free-crm",
    }  # fmt: skip


async def test_restore_end_to_end(worker_factory, pipeline) -> None:
    worker = worker_factory(**AUTH_ENV)
    base, token = worker.url(""), account_token("phoenix")
    await pipeline.send([account("phoenix", "professional"), *deliveries("phoenix", 1000)])
    await pipeline.wait_drained()
    await pipeline.send(bounces("phoenix", 60))
    await pipeline.wait_drained()
    before = (await call(base, "GET", "/accounts/phoenix", token)).json()
    assert before["channels"]["marketing"]["state"] == "suspended"
    assert before["channels"]["marketing"]["counts"]["hard_bounces"] == 60

    filed = await call(base, "POST", "/accounts/phoenix/appeals", token, appeal_form())
    assert filed.status == 201, filed.text
    appeal_id = filed.json()["appeal_id"]
    restored = await call(
        base, "POST", f"/appeals/{appeal_id}/decision", OPERATOR_TOKEN,
        {"decision": "restore", "note": "list cleaned, verified"},
    )  # fmt: skip
    assert restored.status == 200, restored.text
    assert restored.json()["status"] == "restored"
    again = await call(
        base, "POST", f"/appeals/{appeal_id}/decision", OPERATOR_TOKEN, {"decision": "restore"}
    )
    assert again.status == 409

    decisions = await pipeline.decisions()
    restore = [d for d in decisions if d["action"] == "restore"]
    assert len(restore) == 1 and restore[0]["reason"] == "appeal_approved"
    assert restore[0]["trigger_event_id"] is None
    statuses = await pipeline.statuses()
    assert statuses["phoenix"]["channels"]["marketing"]["state"] == "active"
    after = (await call(base, "GET", "/accounts/phoenix", token)).json()
    assert after["channels"]["marketing"]["counts"]["sent"] == 0
    assert after["channels"]["marketing"]["counts"]["hard_bounces"] == 0
    assert len(await pipeline.suppressions()) == 60  # suppressions stay

    # A second offence in the same month is warned, then suspended, as the first was.
    await pipeline.send(deliveries("phoenix", 1000))
    await pipeline.wait_drained()
    await pipeline.send(bounces("phoenix", 51, start=100))
    await pipeline.wait_drained()
    offences = [(d["action"], d["evidence"]["hard_bounces"]) for d in await pipeline.decisions()
                if d["action"] in ("warn", "suspend")]  # fmt: skip
    assert offences == [("warn", 21), ("suspend", 51), ("warn", 21), ("suspend", 51)]
    assert len({d["period"] for d in await pipeline.decisions()}) == 1
    listed = await call(base, "GET", "/accounts/phoenix/decisions", token)
    assert listed.status == 200, listed.text
    assert [d["action"] for d in listed.json()["decisions"]] == [
        "suspend", "warn", "restore", "suspend", "warn"  # newest first
    ]
    assert "51 of 1,000 marketing emails" in listed.json()["decisions"][0]["advice"]


async def test_account_review_flow(worker_factory, pipeline) -> None:
    worker = worker_factory(**AUTH_ENV)
    base, token = worker.url(""), account_token("newco")
    await pipeline.send([account("newco", "free", review_required=True)])
    await pipeline.wait_drained()
    statuses = await pipeline.statuses()
    assert statuses["newco"]["channels"]["marketing"]["state"] == "under_review"
    assert statuses["newco"]["channels"]["crm"]["state"] == "active"

    filed = await call(base, "POST", "/accounts/newco/appeals", token, appeal_form())
    assert filed.status == 201, filed.text
    assert filed.json()["kind"] == "review" and filed.json()["queue"] == "account-review"
    approved = await call(
        base, "POST", f"/appeals/{filed.json()['appeal_id']}/decision", OPERATOR_TOKEN,
        {"decision": "restore", "note": "contacts verified"},
    )  # fmt: skip
    assert approved.status == 200, approved.text
    decisions = await pipeline.decisions()
    assert [(d["action"], d["reason"]) for d in decisions] == [("restore", "review_approved")]
    statuses = await pipeline.statuses()
    assert statuses["newco"]["channels"]["marketing"]["state"] == "active"
    # The same metadata again does not put it back under review.
    await pipeline.send([account("newco", "free", review_required=True)])
    await pipeline.wait_drained()
    assert (await pipeline.statuses())["newco"]["channels"]["marketing"]["state"] == "active"
