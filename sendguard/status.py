"""``sendguard status``: what an SRE asks first, from a running worker's ``GET /status``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from schemas.errors import SendguardError

#: guard partitions listed, the furthest behind first; the rest are counted
SHOWN_PARTITIONS = 10


class StatusError(SendguardError):
    """The worker could not be asked, or answered something else than a status."""


def fetch_status(url: str, timeout_s: float = 20.0) -> dict[str, Any]:
    target = url.rstrip("/") + "/status"
    if not target.startswith(("http://", "https://")):
        raise StatusError(f"--url: expected http://host:port, got {url!r}")
    try:
        with urllib.request.urlopen(target, timeout=timeout_s) as reply:
            body = reply.read(1 << 20)
    except urllib.error.HTTPError as exc:
        raise StatusError(f"{target} answered {exc.code} {exc.reason}: is it a Sendguard "
                          "worker, of this version?") from None  # fmt: skip
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StatusError(
            f"no worker answers at {target} ({reason}); is it running? (--url, or "
            "SENDGUARD_WEB_HOST and SENDGUARD_WEB_PORT)"
        ) from None
    try:
        found = json.loads(body)
    except ValueError:
        raise StatusError(f"{target} did not answer JSON: is it a Sendguard worker?") from None
    if not isinstance(found, dict) or "ready" not in found:
        raise StatusError(f"{target} did not answer a worker's status")
    return found


def render(status: dict[str, Any], url: str) -> str:
    lines = []
    state = "ready" if status.get("ready") else "NOT READY"
    lines.append(f"worker {status.get('app_id')} at {url}: {state} ({status.get('why')})")
    policy = status.get("policy") or {}
    lines.append(f"policy: {policy.get('live')} (shadow: {policy.get('shadow') or 'none'})")
    lag = status.get("lag_messages") or {}
    waiting = {topic: count for topic, count in lag.items() if count}
    if not lag:
        lines.append("lag: not measured yet")
    elif not waiting:
        lines.append(f"lag: none ({len(lag)} topics read to their end)")
    else:
        lines.append(f"lag: {sum(waiting.values()):,} messages waiting on this worker's partitions")
        width = max(len(topic) for topic in waiting)
        lines += [f"  {topic:<{width}}  {count:>10,}" for topic, count in sorted(waiting.items())]
    partitions = status.get("partitions") or []
    lines.append(f"guard partitions: {len(partitions)} with events, "
                 f"{status.get('held_events', 0):,} events held")  # fmt: skip
    if partitions:
        behind = sorted(partitions, key=_behind, reverse=True)
        lines.append("  partition     watermark age  held events  waits for")
        for row in behind[:SHOWN_PARTITIONS]:
            age = row.get("watermark_age_s")
            shown = "at start" if age is None else f"{age:.1f} s"
            lines.append(f"  {row['partition']:>9}  {shown:>16}  {row['held_events']:>11,}  "
                         f"{row.get('waits_for') or '-'}")  # fmt: skip
        if len(behind) > SHOWN_PARTITIONS:
            lines.append(f"  ... and {len(behind) - SHOWN_PARTITIONS} more partitions")
    recent = status.get("last_hour") or {}
    if recent.get("decisions") is None:
        lines.append(f"last hour: unknown ({recent.get('why', 'no answer')})")
    else:
        lines.append(f"last hour, all workers: {recent['decisions']:,} decisions, "
                     f"{recent['dead_letters']:,} dead letters")  # fmt: skip
    return "\n".join(lines)


def _behind(row: dict[str, Any]) -> float:
    age = row.get("watermark_age_s")
    return float("inf") if age is None else float(age)
