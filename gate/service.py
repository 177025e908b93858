"""``sendguard gate serve``: the sender gate as a small HTTP service, for an MTA in any
language.

- ``GET /check?account_id=A&channel=C&recipient=R``: one answer.
- ``POST /check/batch`` with ``{"account_id", "channel", "recipients": [...]}``: one answer
  per recipient, in order, from one lookup pass.
- ``GET /healthz``: 200 while the gate's view is fresh, 503 when stale or still starting.
- ``GET /metrics``: Prometheus.

Every byte of a request is hostile: bodies and fields are bounded, a bad request gets a
4xx with a JSON ``{"error": ...}`` that says what is wrong, and nothing a caller sends
reaches a 500. The checks need ``Authorization: Bearer <SENDGUARD_GATE_TOKEN>`` when a
token is set (it must be, beyond loopback); ``/healthz`` and ``/metrics`` do not.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import signal
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gate.client import GateAnswer, SenderGate
from gate.errors import GateError
from gate.settings import GateSettings

log = logging.getLogger("sendguard.gate")

MAX_ACCOUNT_ID_CHARS = 200
MAX_CHANNEL_CHARS = 64
MAX_RECIPIENT_CHARS = 320
#: The largest request body: a full batch of the longest addresses fits with room.
MAX_BODY_BYTES = 1024 * 1024
_JSON = "application/json"
START_RETRY_S = 5.0


class BadRequest(GateError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    account_id: str
    channel: str
    recipients: list[str]


_BATCH = msgspec.json.Decoder(_Batch)


def _field(name: str, value: str | None, limit: int) -> str:
    if value is None or not value.strip():
        raise BadRequest(422, f"{name}: required")
    if len(value) > limit:
        raise BadRequest(422, f"{name}: at most {limit} characters, got {len(value)}")
    return value


def _answer(answer: GateAnswer) -> dict[str, Any]:
    return {"allowed": answer.allowed, "reason": answer.reason, "stale": answer.stale}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class _GateCollector(Collector):
    """The gate's own figures, read at each scrape."""

    def __init__(self, gate: SenderGate) -> None:
        self.gate = gate

    def collect(self) -> Iterable[Any]:
        gate = self.gate
        yield GaugeMetricFamily("sendguard_gate_staleness_seconds",
                                "Seconds since the gate last read both topics to their end",
                                value=gate.staleness_s())  # fmt: skip
        yield GaugeMetricFamily("sendguard_gate_lag_records",
                                "Records on the topics the gate has not read yet",
                                value=gate.lag_records())  # fmt: skip
        records = CounterMetricFamily("sendguard_gate_records", "Records read from the topics",
                                      labels=["outcome"])  # fmt: skip
        records.add_metric(["applied"], gate.counters.records - gate.counters.skipped)
        records.add_metric(["skipped"], gate.counters.skipped)
        yield records
        yield CounterMetricFamily("sendguard_gate_rebuilds",
                                  "Times the gate read the topics again from the beginning",
                                  value=gate.counters.rebuilds)  # fmt: skip
        if gate._store is not None:  # noqa: SLF001 not while starting or stopped
            yield GaugeMetricFamily("sendguard_gate_suppressions",
                                    "Suppressions held (RocksDB's estimate)",
                                    value=gate.store.estimated_keys())  # fmt: skip
            memory = GaugeMetricFamily("sendguard_gate_rocksdb_memory_bytes",
                                       "RocksDB's memory, by kind", labels=["kind"])  # fmt: skip
            for kind, size in gate.store.memory_bytes().items():
                memory.add_metric([kind], size)
            yield memory


class _OneLineBadRequests(logging.Filter):
    """aiohttp logs a request it cannot parse (and answers 400) at ERROR, with a
    traceback: a caller could fill the log with them. One line at INFO says enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, BadHttpMessage):
            record.msg, record.args = "bad HTTP request (400): %s", (error.message,)
            record.exc_info = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class GateService:
    """The HTTP routes over one :class:`SenderGate`."""

    def __init__(self, gate: SenderGate, settings: GateSettings) -> None:
        self.gate = gate
        self.settings = settings
        self.started = False
        self.registry = CollectorRegistry()
        self.registry.register(_GateCollector(gate))
        self.checks = Counter("sendguard_gate_checks", "Recipients checked, by answer",
                              ["answer"], registry=self.registry)  # fmt: skip
        self.up = Gauge("sendguard_gate_up", "1 once the gate has started", registry=self.registry)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._errors])
        app.router.add_get("/check", self.check)
        app.router.add_post("/check/batch", self.check_batch)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        return app

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadRequest as exc:
            return _error(exc.status, str(exc))
        except web.HTTPException as exc:  # aiohttp's own: 404, 405, 413
            if exc.status < 400:
                raise
            return _error(exc.status, exc.reason)
        except Exception:
            log.exception("sender gate: %s %s failed", request.method, request.path)
            return _error(500, "internal error; see the gate's log")

    def _authorise(self, request: web.Request) -> None:
        token = self.settings.gate_token
        if not token:
            return
        given = request.headers.get("Authorization", "")
        # aiohttp keeps a header's bytes that are not UTF-8 as surrogates.
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                   f"Bearer {token}".encode()):  # fmt: skip
            raise BadRequest(401, "missing or wrong 'Authorization: Bearer <token>'")

    def _ready(self) -> None:
        if not self.started:
            raise BadRequest(503, "the gate is starting; retry shortly")

    def _count(self, answers: list[GateAnswer]) -> None:
        allowed = sum(a.allowed for a in answers)
        if allowed:
            self.checks.labels(answer="allowed").inc(allowed)
        if len(answers) - allowed:
            self.checks.labels(answer="blocked").inc(len(answers) - allowed)

    async def check(self, request: web.Request) -> web.Response:
        self._authorise(request)
        self._ready()
        query = request.query
        account_id = _field("account_id", query.get("account_id"), MAX_ACCOUNT_ID_CHARS)
        channel = _field("channel", query.get("channel"), MAX_CHANNEL_CHARS)
        recipient = _field("recipient", query.get("recipient"), MAX_RECIPIENT_CHARS)
        answer = self.gate.check(account_id, channel, recipient)
        self._count([answer])
        return web.json_response(_answer(answer))

    async def check_batch(self, request: web.Request) -> web.Response:
        self._authorise(request)
        self._ready()
        if request.content_type != _JSON:
            raise BadRequest(415, f"send {_JSON}")
        try:
            batch = _BATCH.decode(await request.read())
        except msgspec.ValidationError as exc:
            raise BadRequest(422, str(exc)) from None
        except msgspec.DecodeError as exc:
            raise BadRequest(400, f"not JSON: {exc}") from None
        account_id = _field("account_id", batch.account_id, MAX_ACCOUNT_ID_CHARS)
        channel = _field("channel", batch.channel, MAX_CHANNEL_CHARS)
        limit = self.settings.gate_max_batch
        if len(batch.recipients) > limit:
            raise BadRequest(422, f"recipients: at most {limit}, got {len(batch.recipients)}")
        for n, recipient in enumerate(batch.recipients):
            _field(f"recipients[{n}]", recipient, MAX_RECIPIENT_CHARS)
        answers = self.gate.check_many(account_id, channel, batch.recipients)
        self._count(answers)
        results = [{"recipient": r, **_answer(a)}
                   for r, a in zip(batch.recipients, answers, strict=True)]  # fmt: skip
        return web.json_response({"results": results})

    async def healthz(self, request: web.Request) -> web.Response:
        if not self.started:
            return web.json_response({"status": "starting"}, status=503)
        staleness = self.gate.staleness_s()
        body = {
            "status": "stale" if self.gate.is_stale() else "ok",
            "staleness_s": None if math.isinf(staleness) else round(staleness, 3),
            "lag_records": self.gate.lag_records(),
            "fail": self.gate.fail,
        }
        return web.json_response(body, status=503 if self.gate.is_stale() else 200)

    async def metrics(self, request: web.Request) -> web.Response:
        self.up.set(1 if self.started else 0)
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})  # fmt: skip


async def _started(gate: SenderGate, stop: asyncio.Event) -> bool:
    """Start the gate; on a failure (no broker yet, no topics yet) say why and wait."""
    try:
        await gate.start()
        return True
    except Exception as exc:  # noqa: BLE001 reported, and tried again
        log.warning("sender gate: cannot start yet (%s: %s); again in %.0f s",
                    type(exc).__name__, exc, START_RETRY_S)  # fmt: skip
    try:
        await asyncio.wait_for(stop.wait(), START_RETRY_S)
    except TimeoutError:
        return False
    return True


async def serve(settings: GateSettings) -> None:
    """Listen at once (``/healthz`` says 503 while starting), follow the topics, and stop
    cleanly on SIGTERM or SIGINT."""
    gate = SenderGate(
        settings.kafka_bootstrap, settings.topic_prefix, path=settings.gate_dir,
        cache_mb=settings.gate_cache_mb, stale_after_s=settings.gate_stale_after_s,
        fail="closed" if settings.gate_fail == "closed" else "open",
    )  # fmt: skip
    service = GateService(gate, settings)
    logging.getLogger("aiohttp.server").addFilter(_OneLineBadRequests())
    runner = web.AppRunner(service.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.gate_host, settings.gate_port)
    await site.start()
    log.info("sender gate: listening on http://%s:%d", settings.gate_host, settings.gate_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        while not await _started(gate, stop):
            pass
        if stop.is_set():
            return
        service.started = True
        log.info("sender gate: following %s from %s", ", ".join(gate.topics), settings.gate_dir)
        await stop.wait()
        log.info("sender gate: stopping")
    finally:
        await runner.cleanup()
        await gate.stop()
