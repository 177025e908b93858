"""The framework's ceiling: a faust agent that only iterates the input and acks it.

``--mode message`` is faust as it comes: one stream event per record. ``--mode batch`` is
the same agent on Sendguard's batched delivery (``streams.faust_ext``): one event per
partition and fetch. Neither decodes, keeps state or sends anything. Prints one JSON line:
records read and seconds from the first record to the ``--expect``-th.

    python -m bench.bare_faust --bootstrap HOST:PORT --topics T1,T2 --expect N --mode batch
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from typing import Any

import faust

from streams.faust_ext import BatchingApp, ack_batch


def build(args: argparse.Namespace) -> faust.App:
    settings: dict[str, Any] = dict(
        broker=f"kafka://{args.bootstrap}", store="memory://", key_serializer="raw",
        value_serializer="raw", consumer_auto_offset_reset="earliest", web_port=args.web_port,
        web_host="127.0.0.1", web_bind="127.0.0.1", datadir=tempfile.mkdtemp(),
        autodiscover=False, stream_wait_empty=False,
    )  # fmt: skip
    group = f"bare-{args.mode}-{uuid.uuid4().hex[:8]}"
    if args.mode == "batch":
        app = BatchingApp(group, stream_buffer_maxsize=64, **settings)
        app.batched_topics = frozenset(args.topics)
    else:
        app = faust.App(group, **settings)
    topic = app.topic(*args.topics, key_type=bytes, value_type=bytes)
    state = {"read": 0, "first": 0.0}
    acked: dict[Any, int] = {}

    async def count(stream: Any) -> None:
        async for event in stream.noack().events():
            message = event.message
            state["first"] = state["first"] or time.monotonic()
            if args.mode == "batch":
                state["read"] += len(message.records)
                await ack_batch(stream, event, acked.get(message.tp),
                                stream.app.consumer.revocations)  # fmt: skip
                acked[message.tp] = message.offset
            else:
                state["read"] += 1
                await stream.ack(event)
            if state["read"] >= args.expect:
                seconds = time.monotonic() - state["first"]
                # faust redirects sys.stdout into its log: write to the real one.
                print(
                    json.dumps(
                        {
                            "mode": args.mode,
                            "records": state["read"],
                            "seconds": round(seconds, 3),
                            "per_s": round(state["read"] / seconds),
                        }
                    ),
                    file=sys.__stdout__,
                    flush=True,
                )
                os._exit(0)

    app.agent(topic, name="bare", concurrency=1)(count)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_faust", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topics", required=True, type=lambda s: s.split(","))
    parser.add_argument("--expect", required=True, type=int)
    parser.add_argument("--mode", choices=["message", "batch"], required=True)
    parser.add_argument("--web-port", type=int, required=True)
    args = parser.parse_args()
    app = build(args)
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--web-port", str(args.web_port)]
    app.main()


if __name__ == "__main__":
    main()
