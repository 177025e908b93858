"""streams.lost_events: an offset reset (records deleted unread) is never silent."""

from __future__ import annotations

import logging

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from streams.lost_events import FETCHER_LOGGER, LostEvents, watch
from streams.metrics import Metrics


@pytest.fixture
def lost() -> LostEvents:
    found = LostEvents(Metrics(CollectorRegistry()).offset_resets)
    logger = logging.getLogger(FETCHER_LOGGER)
    before = (logger.level, list(logger.filters))
    parent = logging.getLogger("aiokafka")
    parent_level = parent.level
    parent.setLevel(logging.WARNING)  # the configuration: warnings and up from aiokafka
    watch(found)
    yield found
    logger.setLevel(before[0])
    logger.filters[:] = before[1]
    parent.setLevel(parent_level)


def test_aiokafkas_reset_message_is_an_error_a_metric_and_a_health_failure(
    lost: LostEvents, caplog: pytest.LogCaptureFixture
) -> None:
    assert not lost.happened
    with caplog.at_level(logging.INFO):
        # aiokafka's own words (consumer/fetcher.py), with its own TopicPartition.
        logging.getLogger(FETCHER_LOGGER).info(
            "Fetch offset %s is out of range for partition %s, resetting offset",
            2092, TopicPartition("sendguard.events", 3),
        )  # fmt: skip
        logging.getLogger(FETCHER_LOGGER).info(  # the same, from a second fetch in flight
            "Fetch offset %s is out of range for partition %s, resetting offset",
            2092, TopicPartition("sendguard.events", 3),
        )  # fmt: skip
    assert lost.happened
    assert lost.resets == [("sendguard.events", 3, 2092)]
    assert "sendguard.events[3] offset 2092" in lost.describe()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "EVENTS LOST" in errors[0].getMessage()
    assert not [r for r in caplog.records if "resetting offset" in r.getMessage()]
    (family,) = lost.metric.collect()
    totals = {tuple(s.labels.values()): s.value for s in family.samples if s.name.endswith("_total")}
    assert totals == {("sendguard.events", "3"): 1.0}


def test_other_fetcher_messages_pass_as_before(
    lost: LostEvents, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger(FETCHER_LOGGER)
    with caplog.at_level(logging.INFO):
        logger.info("Resetting offset for partition %s to the committed offset", "x")
        logger.warning("Unexpected error while fetching data: %s", "Boom")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["Unexpected error while fetching data: Boom"]
    assert not lost.happened
