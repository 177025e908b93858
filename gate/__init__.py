"""The sender gate: what a sending service asks before every message.

It follows ``sendguard.account-status`` and ``sendguard.suppressions`` (both compacted)
into a local RocksDB database and answers "may this account send on this channel to
this recipient?" from there. Needs aiokafka, rocksdict and msgspec; no Faust. As a
library:

    async with SenderGate("127.0.0.1:9092", path="/var/lib/sendguard-gate") as gate:
        await gate.wait_caught_up()
        answer = gate.check("acme", "marketing", "Ann@Example.com")
        if not answer.allowed:
            print("blocked:", answer.reason)

or, for an MTA in any language, as an HTTP service: ``sendguard gate serve``
(``gate.service``).
"""

from gate.client import GateAnswer, SenderGate

__all__ = ["GateAnswer", "SenderGate"]
