"""What the HTML reports share: the page around them, anchors, legends and evidence text.

Every page is self-contained (inline CSS and SVG, no script, no external resource), so
it can be mailed or attached to a ticket as one file.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from schemas.types import Decision, Evidence

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left; }
section { margin-bottom: 2.5em; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
.legend > span { margin-right: 1.5em; white-space: nowrap; }
table.small { font-size: 12px; margin-bottom: 1em; }
tr.same td { color: #999; }
td.num { text-align: right; }
.note { color: #555; font-size: 12px; }
"""


def page(title: str, body: str) -> str:
    """The whole document; ``title`` is plain text, ``body`` is HTML."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def generated() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def anchor(account_id: str, channel: str) -> str:
    """The id of an account-channel's section (escaped for an attribute)."""
    return escape(f"{account_id}-{channel}", quote=True)


def swatch(colour: str, style: str = "solid", width: int = 2) -> str:
    """A short line for a legend: ``style`` is a CSS border style (solid, dashed, dotted),
    to match the chart's stroke (no SVG, so each chart is the page's only ``<svg>``)."""
    return (
        "<span style='display:inline-block;width:28px;vertical-align:middle;"
        f"border-top:{width}px {style} {colour}'></span>"
    )


def legend(items: Sequence[tuple[str, str]]) -> str:
    """``(swatch or symbol HTML, plain-text label)`` pairs as one legend line."""
    return (
        "<p class='legend'>"
        + "".join(f"<span>{mark} {escape(label)}</span>" for mark, label in items)
        + "</p>"
    )


def evidence_text(decision: Decision) -> str:
    """The counts behind a decision and what was judged, as escaped HTML."""
    e = decision.evidence
    text = f"sent {e.sent:,}, hard {e.hard_bounces:,}, spam {e.spam_reports:,}, "
    text += f"unsub {e.unsubscribes:,}, abuse {e.abuse_complaints:,}"
    judged = judged_text(e)
    return escape(f"{text}; {judged}" if judged else text)


def judged_text(e: Evidence) -> str:
    """What crossed the limit, as plain text: the rate, or under Wilson gating its lower
    bound ("" for a decision that is not about a rate)."""
    if e.rate is None or e.limit is None:
        return ""
    if e.lower_bound is not None:
        text = f"lower bound {e.lower_bound:.3%} > {e.limit:.3%} (rate {e.rate:.3%})"
    else:
        text = f"rate {e.rate:.3%} > {e.limit:.3%}"
    if e.probation_factor is not None:
        text += f", on probation (limits times {e.probation_factor:g})"
    return text
