"""``sendguard status``: what an SRE asks first, from a running worker's ``GET /status``."""

from __future__ import annotations

import urllib.error
import urllib.request

import msgspec

from schemas.errors import SendguardError

#: guard partitions listed, the furthest behind first; the rest are counted
SHOWN_PARTITIONS = 10
#: the most of an answer read: a worker's status is a few kB per hundred partitions
MAX_ANSWER_BYTES = 1 << 20


class StatusError(SendguardError):
    """The worker could not be asked, or answered something else than a status."""


class PartitionRow(msgspec.Struct):
    partition: int
    watermark: str | None
    watermark_age_s: float | None
    waits_for: str | None
    held_events: int


class Policies(msgspec.Struct):
    live: str
    shadow: str | None


class LastHour(msgspec.Struct):
    decisions: int | None
    dead_letters: int | None
    why: str | None = None  # only when the counts are null


class Status(msgspec.Struct):
    """``GET /status``'s answer (``docs/CONTRACT.md``): every field it names is required;
    fields added later are ignored."""

    ready: bool
    app_id: str
    why: str
    policy: Policies
    lag_messages: dict[str, int]
    held_events: int
    partitions: list[PartitionRow]
    last_hour: LastHour


def fetch_status(url: str, timeout_s: float = 20.0) -> tuple[Status, bytes]:
    """The worker's status, and its answer as sent (for ``--json``)."""
    target = url.rstrip("/") + "/status"
    if not target.startswith(("http://", "https://")):
        raise StatusError(f"--url: expected http://host:port, got {url!r}")
    try:
        with urllib.request.urlopen(target, timeout=timeout_s) as reply:
            body = reply.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise StatusError(f"{target} answered {exc.code} {exc.reason}: is it a Sendguard "
                          "worker, of this version?") from None  # fmt: skip
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StatusError(
            f"no worker answers at {target} ({reason}); is it running? (--url, or "
            "SENDGUARD_WEB_HOST and SENDGUARD_WEB_PORT)"
        ) from None
    if len(body) > MAX_ANSWER_BYTES:
        raise StatusError(f"{target} answered more than {MAX_ANSWER_BYTES} bytes: "
                          "it did not answer a worker's status")  # fmt: skip
    try:
        return msgspec.json.decode(body, type=Status), body
    except msgspec.DecodeError as exc:  # ValidationError included
        raise StatusError(f"{target} did not answer a worker's status ({exc})") from None


def render(status: Status, url: str) -> str:
    lines = []
    state = "ready" if status.ready else "NOT READY"
    lines.append(f"worker {status.app_id} at {url}: {state} ({status.why})")
    lines.append(f"policy: {status.policy.live} (shadow: {status.policy.shadow or 'none'})")
    lag = status.lag_messages
    waiting = {topic: count for topic, count in lag.items() if count}
    if not lag:
        lines.append("lag: not measured yet")
    elif not waiting:
        lines.append(f"lag: none ({len(lag)} topics read to their end)")
    else:
        lines.append(f"lag: {sum(waiting.values()):,} messages waiting on this worker's partitions")
        width = max(len(topic) for topic in waiting)
        lines += [f"  {topic:<{width}}  {count:>10,}" for topic, count in sorted(waiting.items())]
    partitions = status.partitions
    lines.append(f"guard partitions: {len(partitions)} with events, "
                 f"{status.held_events:,} events held")  # fmt: skip
    if partitions:
        behind = sorted(partitions, key=_behind, reverse=True)
        lines.append("  partition     watermark age  held events  waits for")
        for row in behind[:SHOWN_PARTITIONS]:
            age = row.watermark_age_s
            shown = "at start" if age is None else f"{age:.1f} s"
            lines.append(f"  {row.partition:>9}  {shown:>16}  {row.held_events:>11,}  "
                         f"{row.waits_for or '-'}")  # fmt: skip
        if len(behind) > SHOWN_PARTITIONS:
            lines.append(f"  ... and {len(behind) - SHOWN_PARTITIONS} more partitions")
    recent = status.last_hour
    if recent.decisions is None or recent.dead_letters is None:
        lines.append(f"last hour: unknown ({recent.why or 'no answer'})")
    else:
        lines.append(f"last hour, all workers: {recent.decisions:,} decisions, "
                     f"{recent.dead_letters:,} dead letters")  # fmt: skip
    return "\n".join(lines)


def _behind(row: PartitionRow) -> float:
    return float("inf") if row.watermark_age_s is None else row.watermark_age_s
