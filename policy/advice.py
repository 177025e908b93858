"""What a warned or suspended account should do: the banner text of each decision.

docs/POLICY.md's warning banner "names the problem and recommends fixes". Each ``warn`` and
``suspend`` carries one short text per reason, written for the account, with the figures
that matter: the rate and the limit, what to remove, and what stays as it is. Pure: the
worker and the replay write the same text.
"""

from __future__ import annotations

from schemas.types import Action, Channel, Evidence, Reason

__all__ = ["advice"]

_AFTER_SUSPEND = " Sending is paused on this channel until an appeal is approved."
_SUPPRESSED = " Contacts already suppressed stay suppressed."


def _rate(evidence: Evidence, count: int, what: str, channel: Channel) -> str:
    rate = evidence.rate if evidence.rate is not None else 0.0
    limit = evidence.limit if evidence.limit is not None else 0.0
    return (f"{count:,} of {evidence.sent:,} {channel} emails this month {what} "
            f"({rate:.2%}; the limit is {limit:.2%}).")  # fmt: skip


def advice(action: Action, reason: Reason, evidence: Evidence, channel: Channel) -> str | None:
    """The banner for a ``warn`` or ``suspend``; None for other actions."""
    if action not in ("warn", "suspend"):
        return None
    if reason == "hard_bounce_rate":
        text = (_rate(evidence, evidence.hard_bounces, "hard-bounced", channel)
                + " Remove the addresses that bounced and any list you have not mailed "
                "within a year, and add new contacts only through confirmed sign-up."
                + _SUPPRESSED)  # fmt: skip
    elif reason == "spam_report_rate":
        text = (_rate(evidence, evidence.spam_reports, "were reported as spam", channel)
                + " Send only to people who asked for your mail, say who you are in the "
                "sender name and subject, and make unsubscribing one click."
                + _SUPPRESSED)  # fmt: skip
    elif reason == "unsubscribe_rate":
        text = (_rate(evidence, evidence.unsubscribes, "led to an unsubscribe", channel)
                + " Mail less often or to a narrower segment, and check that the content "
                "matches what people signed up for." + _SUPPRESSED)  # fmt: skip
    elif reason == "abuse_complaint":
        text = (f"{evidence.abuse_complaints} complaint(s) reached a mailbox provider's abuse "
                "desk this month. Check where the complained-about contacts came from and "
                "remove any you cannot show consent for.")  # fmt: skip
    elif reason == "spam_trap":
        text = ("Mail reached a spam-trap address, which no person ever signed up with: the "
                "list holds addresses that were bought, scraped or guessed. Remove every "
                "contact you cannot show consent for.")  # fmt: skip
    elif reason == "blocklist":
        listings = int(evidence.limit or 0)
        text = (f"Your sending is on at least {listings} blocklist(s). Ask each list to "
                "delist you, and fix what got you listed (often old or bought lists).")  # fmt: skip
    else:  # repeated_cancelled_campaigns
        text = (f"{int(evidence.limit or 0)} campaigns were cancelled this month for hard "
                "bounces. Clean each list before you send it: remove addresses that "
                "bounced and lists not mailed within a year." + _SUPPRESSED)  # fmt: skip
    return text + (_AFTER_SUSPEND if action == "suspend" else "")
