"""The replication and partition checks ``ensure_topics`` applies, without a broker
(``tests/integration/test_topics.py`` runs them against real ones)."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.limits import TOPIC_MAX_MESSAGE_BYTES
from streams import topics as t
from streams.provision import (
    ProvisionError,
    Replication,
    choose_replication,
    partition_problems,
    wanted_topics,
)
from streams.settings import Settings
from tables import changelog_topic


@pytest.mark.parametrize(
    ("brokers", "factor", "min_insync"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)]
)
def test_replication_follows_the_cluster(brokers: int, factor: int, min_insync: int) -> None:
    chosen = choose_replication(Settings(), brokers)
    assert (chosen.factor, chosen.min_insync) == (factor, min_insync)
    assert chosen.why.startswith(f"{brokers} broker")
    assert f"replication factor {factor}, min.insync.replicas {min_insync}" in chosen.why


def test_three_brokers_say_why() -> None:
    assert choose_replication(Settings(), 3).why == (
        "3 brokers: replication factor 3, min.insync.replicas 2"
    )


def test_a_set_replication_factor_wins_and_derives_min_insync() -> None:
    chosen = choose_replication(Settings(replication_factor=2), 3)
    assert (chosen.factor, chosen.min_insync) == (2, 1)
    chosen = choose_replication(Settings(replication_factor=3, min_insync_replicas=3), 5)
    assert (chosen.factor, chosen.min_insync) == (3, 3)
    assert "SENDGUARD_MIN_INSYNC_REPLICAS=3" in chosen.why


def test_a_replication_factor_above_the_brokers_is_refused() -> None:
    with pytest.raises(ProvisionError) as failed:
        choose_replication(Settings(replication_factor=3), 1)
    message = str(failed.value)
    assert "SENDGUARD_REPLICATION_FACTOR is 3 but the cluster" in message
    assert "has 1 broker: set it to at most 1" in message and "\n" not in message


def test_min_insync_above_the_clusters_factor_is_refused() -> None:
    with pytest.raises(ProvisionError, match="SENDGUARD_MIN_INSYNC_REPLICAS is 2 but the "
                       "replication factor is 1"):  # fmt: skip
        choose_replication(Settings(min_insync_replicas=2), 1)


def test_every_topic_is_created_replicated_with_its_limits() -> None:
    settings = Settings(topic_prefix="p.", app_id="p.sg", shadow_policy_path=None)
    topics = wanted_topics(settings, replication=Replication(3, 2, ""))
    names = {topic.name for topic in topics}
    assert "p.email.bounce" in names and "p.sendguard.decisions" in names
    assert changelog_topic("p.sg", "accounts") in names
    for topic in topics:
        assert topic.replication_factor == 3, topic.name
        want = 1 if topic.name == "p.sendguard.progress" else settings.partitions
        assert topic.num_partitions == want, topic.name
        assert topic.topic_configs["min.insync.replicas"] == "2", topic.name
        assert topic.topic_configs["max.message.bytes"] == str(TOPIC_MAX_MESSAGE_BYTES)
        assert topic.topic_configs["cleanup.policy"] in ("compact", "delete", "compact,delete")


def test_seen_ids_are_kept_on_the_broker_as_long_as_the_policy_keeps_them(
    tmp_path: Path,
) -> None:
    """The seen-events changelog's retention follows the policy file's late grace (the
    grace and two days: ``Policy.seen_id_days``), as the worker's table and the replay."""
    policy = tmp_path / "policy.toml"
    policy.write_text("late_grace_days = 3\n")
    for path, days in ((None, 9), (policy, 5)):
        settings = Settings(app_id="p.sg", policy_path=path)
        (seen,) = [t for t in wanted_topics(settings)
                   if t.name == changelog_topic("p.sg", "seen-events")]  # fmt: skip
        assert seen.topic_configs["retention.ms"] == str(days * 86_400_000)


def test_matching_partition_counts_pass() -> None:
    settings = Settings(partitions=4)
    counts = {settings.topic(name): 4 for name in (*t.INPUT_TOPICS, t.ACCOUNTS, t.EVENTS)}
    counts[settings.topic(t.DECISIONS)] = 12  # an output may have more
    assert partition_problems(settings, counts) is None


def test_one_input_with_another_count_is_one_line_naming_it() -> None:
    settings = Settings(partitions=4)
    assert partition_problems(settings, {"email.bounce": 8}) == (
        "email.bounce has 8 partitions, SENDGUARD_PARTITIONS is 4: set "
        "SENDGUARD_PARTITIONS=8 (all topics must match) or recreate the topic with 4 partitions"
    )


def test_mixed_counts_name_each_topic() -> None:
    settings = Settings(partitions=4, app_id="sg")
    counts = {"email.bounce": 8, "accounts": 4, "sendguard.events": 2,
              "sendguard.decisions": 2, "sg-accounts-changelog": 8}  # fmt: skip
    line = partition_problems(settings, counts)
    assert line is not None and "\n" not in line
    for name in ("email.bounce", "sendguard.events", "sendguard.decisions",
                 "sg-accounts-changelog"):  # fmt: skip
        assert f"{name} has " in line
    assert "accounts has" not in line.replace("sg-accounts", "")
    assert "recreate those topics with 4 partitions" in line
    assert "a changelog holds table state" in line
