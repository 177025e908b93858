"""Malformed input goes to dead-letter with its reason; good events around it still count;
re-sent duplicates change nothing."""

from __future__ import annotations

import json

import pytest

from tests.integration.traffic import at, bounces, deliveries

pytestmark = pytest.mark.integration


def malformed() -> list[tuple[str, bytes | None, str]]:
    """(topic, raw value, expected reason prefix)."""

    def body(**overrides: object) -> bytes:
        record = {
            "event_id": "bad-1", "account_id": "mixed", "occurred_at": at(10),
            "recipient": "x@example.com", "bounce_type": "hard",
        }  # fmt: skip
        record.update(overrides)
        return json.dumps({k: v for k, v in record.items() if v is not ...}).encode()

    return [
        ("email.bounce", b"{not json", "not JSON"),
        ("email.bounce", b"[1, 2, 3]", "not a JSON object"),
        ("email.bounce", b"\xff\xfe\x00garbage", "not JSON"),
        ("email.bounce", body(account_id=...), "account_id: missing"),
        ("email.bounce", body(account_id=42), "account_id: expected a string"),
        ("email.bounce", body(bounce_type="medium"), "bounce_type: unknown value"),
        ("email.bounce", body(occurred_at="2026-11-03T10:15:00"), "occurred_at: timestamp has no UTC offset"),
        ("email.bounce", body(occurred_at="9999-12-31T23:59:59Z"), "occurred_at: more than one hour in the future"),
        ("email.bounce", body(occurred_at="2020-01-01T00:00:00Z"), "occurred_at: older than the late-event grace"),
        ("email.bounce", body(channel="sms"), "channel: unknown value"),
        ("email.bounce", body(recipient=...), "recipient: missing"),
        ("email.bounce", None, "empty message"),
    ]  # fmt: skip


async def test_rejects_go_to_dead_letter_and_good_events_still_count(
    worker_factory, pipeline
) -> None:
    worker_factory()
    await pipeline.send(deliveries("mixed", 1000))
    bad = malformed()
    good = bounces("mixed", 60)
    # Interleave: a malformed message between every few good bounces.
    for i, (topic, raw, _) in enumerate(bad):
        await pipeline.send(good[i * 5 : i * 5 + 5])
        await pipeline.send_raw(topic, raw, key=b"mixed")
    await pipeline.send(good[len(bad) * 5 :])
    await pipeline.wait_drained()

    letters = await pipeline.dead_letters()
    assert len(letters) == len(bad)
    for letter, (topic, raw, reason) in zip(
        sorted(letters, key=lambda d: d["offset"]), bad, strict=True
    ):
        assert letter["source_topic"] == topic
        assert letter["error"].startswith(reason), (letter["error"], reason)
        assert isinstance(letter["partition"], int) and isinstance(letter["offset"], int)
        if raw is not None:
            assert letter["raw"] == raw.decode("utf-8", errors="replace")

    decisions = await pipeline.decisions()
    suspend = [d for d in decisions if d["action"] == "suspend"]
    assert len(suspend) == 1 and suspend[0]["evidence"]["hard_bounces"] == 51
    assert suspend[0]["trigger_event_id"] == good[50]["event_id"]


async def test_a_resent_batch_of_duplicates_changes_nothing(worker_factory, pipeline) -> None:
    worker_factory()
    sends = deliveries("retrying", 1000)
    batch = bounces("retrying", 40)  # 4 %: a warn, under the suspend limit
    await pipeline.send(sends)
    await pipeline.wait_drained()
    await pipeline.send(batch)
    await pipeline.wait_drained()
    first = await pipeline.decisions()
    assert [d["action"] for d in first] == ["warn"]

    await pipeline.send(batch + sends[:100])  # MTA retries: same event ids
    await pipeline.send([dict(batch[0], recipient="other@retrying.example")])  # same id again
    await pipeline.wait_drained()
    assert await pipeline.decisions() == first  # counted twice, 80 / 1000 would suspend
    assert len(await pipeline.raw_decisions()) == 1
    suppressions = await pipeline.suppressions()
    assert len(suppressions) == 40
    # 11 new bounces: the suspend must come exactly at 51, proving the count was 40.
    fresh = bounces("retrying", 11, start=100)
    await pipeline.send(fresh)
    await pipeline.wait_drained()
    suspend = [d for d in await pipeline.decisions() if d["action"] == "suspend"]
    assert len(suspend) == 1
    assert suspend[0]["evidence"]["hard_bounces"] == 51
    assert suspend[0]["trigger_event_id"] == fresh[10]["event_id"]
