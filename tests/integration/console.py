"""The console tests' common start: a worker with two operators, and an account with a
pending appeal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.operators import add_operator
from tests.integration.http import SECRET, account_token, appeal_form, call
from tests.integration.traffic import event

SCRIPT = "<script>document.title='owned'</script>"
#: the live policy: two weeks of probation after a restore
PROBATION_POLICY = 'version = "console"\n[marketing.probation]\ndays = 14\nfactor = 0.5\n'
#: a shadow policy under which abuse-desk complaints do not suspend
LENIENT_SHADOW = 'version = "lenient"\n[marketing.suspend]\nabuse_complaints = 0\n'


@dataclass
class Case:
    worker: Any
    base: str
    alice: str  # a decider's token
    vera: str  # a viewer's token
    appeal_id: str


async def suspended_with_an_appeal(worker_factory: Any, pipeline: Any, tmp_path: Path) -> Case:
    """Account ``acme`` (starter) suspended on marketing by an abuse-desk complaint, with
    a pending appeal whose answers hold a ``<script>``."""
    operators = tmp_path / "operators.json"
    alice = add_operator(operators, "alice", "decider")
    vera = add_operator(operators, "vera", "viewer")
    policy, shadow = tmp_path / "policy.toml", tmp_path / "shadow.toml"
    policy.write_text(PROBATION_POLICY)
    shadow.write_text(LENIENT_SHADOW)
    worker = worker_factory(SENDGUARD_OPERATORS_FILE=str(operators), SENDGUARD_SECRET=SECRET,
                            SENDGUARD_POLICY=str(policy), SENDGUARD_SHADOW_POLICY=str(shadow))  # fmt: skip
    base = worker.url("")
    await pipeline.send([{"topic": "accounts", "account_id": "acme", "tier": "starter"},
                         event("email.abuse-desk", "acme", complaint_id="c1")])  # fmt: skip
    await pipeline.wait_drained()
    filed = await call(base, "POST", "/accounts/acme/appeals", account_token("acme"),
                       appeal_form(details=f"We fixed it {SCRIPT}"))  # fmt: skip
    assert filed.status == 201, filed.text
    return Case(worker, base, alice, vera, filed.json()["appeal_id"])
