"""Loading the policy: the built-in defaults, partial override files and every error."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from policy import (
    CampaignPolicy,
    ChannelPolicy,
    PolicyError,
    SuspendLimits,
    WarnLimits,
    load_policy,
)

SUSPEND = SuspendLimits(
    hard_bounce_rate=0.05,
    spam_report_rate=0.001,
    unsubscribe_rate=0.05,
    abuse_complaints=1,
    spam_trap_hits=1,
    blocklistings=2,
)
WARN = WarnLimits(
    hard_bounce_rate=0.02, spam_report_rate=0.0005, unsubscribe_rate=0.02, blocklistings=1
)


@pytest.fixture
def write(tmp_path: Path):
    def write(text: str) -> Path:
        path = tmp_path / "policy.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_builtin_defaults() -> None:
    policy = load_policy()
    assert policy.version == "2026-11-default"
    assert policy.late_grace_days == 7
    assert set(policy.channels) == {"marketing", "crm"}
    assert policy.channel("marketing") == ChannelPolicy(
        min_sends=1000,
        suspend=SUSPEND,
        warn=WARN,
        campaign=CampaignPolicy(min_sends=200, hard_bounce_rate=0.10, cancelled_to_suspend=3),
    )
    assert policy.channel("crm") == ChannelPolicy(
        min_sends=200, suspend=SUSPEND, warn=WARN, campaign=None
    )


def test_policy_is_immutable() -> None:
    policy = load_policy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.version = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.channels["sms"] = policy.channel("crm")  # type: ignore[index]


def test_unknown_channel_lookup_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="'sms'"):
        load_policy().channel("sms")


def test_empty_file_is_the_builtin_policy(write) -> None:
    assert load_policy(write("")) == load_policy()


def test_partial_file_overrides_only_its_keys(write) -> None:
    path = write(
        'version = "acme-1"\n'
        "[marketing.suspend]\nhard_bounce_rate = 0.08\n"
        "[crm]\nmin_sends = 50\n"
        "[crm.warn]\nblocklistings = 0\n"
    )
    policy = load_policy(str(path))
    marketing, crm = policy.channel("marketing"), policy.channel("crm")
    assert policy.version == "acme-1"
    assert policy.late_grace_days == 7
    assert marketing.suspend == dataclasses.replace(SUSPEND, hard_bounce_rate=0.08)
    assert marketing.warn == WARN
    assert marketing.min_sends == 1000
    assert marketing.campaign == CampaignPolicy(200, 0.10, 3)
    assert crm.min_sends == 50
    assert crm.suspend == SUSPEND
    assert crm.warn == dataclasses.replace(WARN, blocklistings=0)
    assert crm.campaign is None


def test_overrides_do_not_leak_into_the_builtin_policy(write) -> None:
    load_policy(write("[marketing.suspend]\nhard_bounce_rate = 0.5\n"))
    assert load_policy().channel("marketing").suspend.hard_bounce_rate == 0.05


def test_integer_rate_is_stored_as_float(write) -> None:
    policy = load_policy(write("[marketing.warn]\nunsubscribe_rate = 1\n"))
    rate = policy.channel("marketing").warn.unsubscribe_rate
    assert rate == 1.0
    assert isinstance(rate, float)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 'red'\n", "unknown policy key 'colour'"),
        ("[sms]\nmin_sends = 1\n", "unknown policy key 'sms'"),
        (
            "[marketing.suspend]\nbounce_rate = 0.1\n",
            "unknown policy key 'marketing.suspend.bounce_rate'",
        ),
        ("[crm.campaign]\nmin_sends = 1\n", "unknown policy key 'crm.campaign'"),
        (
            "[marketing.warn]\nabuse_complaints = 1\n",
            "unknown policy key 'marketing.warn.abuse_complaints'",
        ),
    ],
)
def test_unknown_keys_are_rejected(write, text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy(write(text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = 3\n", "'version' must be a non-empty string"),
        ("version = ' '\n", "'version' must be a non-empty string"),
        ("late_grace_days = '7'\n", "'late_grace_days' must be a whole number"),
        ("late_grace_days = 7.5\n", "'late_grace_days' must be a whole number"),
        ("[marketing]\nmin_sends = true\n", "'marketing.min_sends' must be a whole number"),
        (
            "[marketing.suspend]\nspam_report_rate = '0.1%'\n",
            "'marketing.suspend.spam_report_rate' must be a number",
        ),
        ("[crm.warn]\nhard_bounce_rate = false\n", "'crm.warn.hard_bounce_rate' must be a number"),
        ("marketing = 5\n", "'marketing' must be a table"),
        ("[marketing]\nsuspend = 0.05\n", "'marketing.suspend' must be a table"),
        ("[marketing.min_sends]\nx = 1\n", "'marketing.min_sends' must be a whole number"),
    ],
)
def test_wrong_types_are_rejected(write, text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy(write(text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[marketing.suspend]\nhard_bounce_rate = 5.0\n", "between 0 and 1, got 5.0"),
        ("[crm.warn]\nunsubscribe_rate = -0.01\n", "between 0 and 1, got -0.01"),
        ("[marketing.campaign]\nhard_bounce_rate = 1.5\n", "'marketing.campaign.hard_bounce_rate'"),
        ("late_grace_days = -1\n", "'late_grace_days' must not be negative, got -1"),
        ("[crm.suspend]\nabuse_complaints = -2\n", "'crm.suspend.abuse_complaints' must not be"),
        ("[marketing.campaign]\ncancelled_to_suspend = -1\n", "must not be negative"),
    ],
)
def test_out_of_range_values_are_rejected(write, text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy(write(text))


def test_rates_at_the_bounds_are_accepted(write) -> None:
    policy = load_policy(write("[crm.suspend]\nhard_bounce_rate = 0.0\nunsubscribe_rate = 1.0\n"))
    assert policy.channel("crm").suspend.hard_bounce_rate == 0.0
    assert policy.channel("crm").suspend.unsubscribe_rate == 1.0


def test_unparsable_toml_is_wrapped(write) -> None:
    path = write("[marketing\nmin_sends = 1\n")
    with pytest.raises(PolicyError, match="not valid TOML") as info:
        load_policy(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, tomllib.TOMLDecodeError)


def test_missing_file_is_wrapped(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(PolicyError, match="cannot read policy file") as info:
        load_policy(path)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_error_names_the_file(write) -> None:
    path = write("[crm]\nmin_sends = -5\n")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert str(info.value).startswith(f"{path}: ")


def test_a_file_without_a_version_gets_one_from_its_content(write, caplog) -> None:
    stricter = load_policy(write("[marketing.suspend]\nhard_bounce_rate = 0.04\n"))
    looser = load_policy(write("[marketing.suspend]\nhard_bounce_rate = 0.06\n"))
    default = load_policy().version
    assert stricter.version.startswith(f"{default}+") and looser.version.startswith(f"{default}+")
    assert len({stricter.version, looser.version, default}) == 3  # never shared
    assert "names no version" in caplog.text and stricter.version in caplog.text
    # The same limits, however written, are the same policy.
    again = load_policy(write("[marketing.suspend]\nhard_bounce_rate = 0.040\n"))
    assert again.version == stricter.version
    zero = load_policy(write("[crm.suspend]\nunsubscribe_rate = 0\n"))
    assert load_policy(write("[crm.suspend]\nunsubscribe_rate = 0.0\n")).version == zero.version


def test_a_file_that_changes_no_limit_keeps_the_builtin_version(write) -> None:
    assert load_policy(write("[marketing.suspend]\nhard_bounce_rate = 0.05\n")).version == (
        load_policy().version
    )
