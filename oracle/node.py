"""One oracle node: verify readings, seal rounds, exchange signatures, submit reports.

Everything runs on one asyncio loop: the MQTT thread only enqueues deliveries, chain calls run in
worker threads, and the database is touched from the loop alone.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from chain import typed_data
from chain.client import ChainClient
from chain.errors import ChainError, GoodsOracleError
from chain.manifest import Deployment
from chain.merkle import MerkleTree
from chain.readings import InvalidReading, Reading, parse, verify
from chain.typed_data import OracleReport
from oracle import agreement
from oracle.agreement import BadSignatureMessage, SignatureBook, SignedReport
from oracle.chain_view import OracleChain
from oracle.mqtt import Delivery, MqttLink
from oracle.rules import LotContext, RulesConfig, Status, evaluate_round, load_rules, offline_since_ms
from oracle.settings import OracleSettings
from oracle.store import Anchor, LotRecord, OracleStore, SealedRound, StoredReading

logger = logging.getLogger(__name__)

ZERO_ROOT = b"\x00" * 32
# Rounds this close to the contract's maximum report age are not worth signing any more.
AGE_MARGIN_S = 10
UNKNOWN_DEVICE_RETRY_S = 5.0
PARAMS_REFRESH_S = 5.0
MAX_BATCH = 1_000


@dataclass
class OwnRound:
    """A round this node sealed, signed and keeps publishing until it is anchored."""

    report: OracleReport
    digest: bytes
    signature: bytes
    published_at: float = 0.0


class OracleNode:
    """An oracle node; `await run(stop)` until `stop` is set."""

    def __init__(self, settings: OracleSettings, *, rules: RulesConfig | None = None) -> None:
        self.settings = settings
        self.rules = rules if rules is not None else load_rules(settings.rules_file)
        self.account = settings.account()
        self.store = OracleStore(settings.db_path)
        self.metrics: Counter[str] = Counter()
        self.http_port: int | None = None
        self._round_ms = settings.round_length_s * 1000
        self._book = SignatureBook()
        self._own: dict[tuple[bytes, int], OwnRound] = {}
        self._retry_at: dict[tuple[bytes, int], float] = {}
        self._in_flight: set[tuple[bytes, int]] = set()
        self._submit_lock = asyncio.Lock()
        self._devices = {d: (lot, key) for d, (lot, key, _) in self.store.devices().items()}
        self._named = {d for d, (_, _, name) in self.store.devices().items() if name}
        self._unknown: dict[bytes, float] = {}
        self._lots: dict[bytes, LotRecord] = self.store.lots()
        self._lot_devices: dict[bytes, dict[bytes, str]] = {}
        for d, (lot, _, name) in self.store.devices().items():
            self._lot_devices.setdefault(lot, {})[d] = name
        self._anchors: dict[bytes, Anchor] = self.store.latest_anchors()
        self._sealed_upto: dict[bytes, int] = {}
        self._signers: set[str] = set()
        self._quorum = 0
        self._nodes = 0
        self._max_age_s = 300
        self._chain: OracleChain | None = None
        self._mqtt: MqttLink | None = None
        self.ready = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, serve and work until `stop` is set."""
        loop = asyncio.get_running_loop()
        deployment = Deployment.read(self.settings.manifest_path)
        client = ChainClient.connect(self.settings.rpc_url, poll_interval_s=0.02)
        self._chain = OracleChain(client, deployment, self.account)
        await asyncio.to_thread(self._refresh_params)
        if self.account.address.lower() not in self._signers:
            logger.warning(
                "%s is not a registered oracle signer: its signatures will not count", self.account.address
            )
        await self._poll_chain()
        queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._mqtt = MqttLink(
            self.settings.broker,
            f"scf-oracle-{self.settings.node_index}-{self.account.address[2:10].lower()}",
            [self.settings.verified_topic, f"{agreement.TOPIC_PREFIX}/+/+"],
            loop,
            queue,
        )
        runner = None
        if self.settings.http_port is not None:
            from oracle.http import start_http

            runner, self.http_port = await start_http(self, self.settings.http_host, self.settings.http_port)
        self._mqtt.start()
        tasks = [
            asyncio.create_task(self._ingest(queue), name="oracle-ingest"),
            asyncio.create_task(
                self._every(self.settings.chain_poll_s, self._poll_chain), name="oracle-chain"
            ),
            asyncio.create_task(self._every(self._tick_s, self._tick), name="oracle-rounds"),
        ]
        try:
            await asyncio.wait_for(self._mqtt.connected.wait(), timeout=30)
            self.ready.set()
            logger.info("oracle node %s (%s) running", self.settings.node_index, self.account.address)
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._mqtt.stop()
            if runner is not None:
                await runner.cleanup()
            self.store.close()

    @property
    def _tick_s(self) -> float:
        return min(0.1, self.settings.round_length_s / 10)

    @property
    def chain(self) -> OracleChain:
        assert self._chain is not None, "the node is not running"
        return self._chain

    async def _every(self, period_s: float, work: Any) -> None:
        while True:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive one bad pass
                logger.exception("oracle %s failed; continuing", work.__name__)
            await asyncio.sleep(period_s)

    # ------------------------------------------------------------------ chain

    def _refresh_params(self) -> None:
        chain = self.chain
        signers = chain.signers()
        self._signers = {s.lower() for s in signers}
        self._nodes = len(signers)
        self._quorum = chain.quorum()
        self._max_age_s = chain.max_report_age_s()
        self._params_at = time.monotonic()

    async def _poll_chain(self) -> None:
        if time.monotonic() - getattr(self, "_params_at", 0.0) > PARAMS_REFRESH_S:
            await asyncio.to_thread(self._refresh_params)
        start = self.store.get_meta("scanned_block")
        from_block = int(start) + 1 if start else self.chain.deployment.block_number
        events = await asyncio.to_thread(self.chain.events, from_block)
        for lot in events.lots:
            self.store.add_lot(lot)
            self._lots[lot.lot] = lot
        for device_id, lot_id, key in events.devices:
            self.store.add_device(device_id, lot_id, key)
            self._devices[device_id] = (lot_id, key)
            self._lot_devices.setdefault(lot_id, {}).setdefault(device_id, "")
        self._record_anchors(events.anchors)
        self.store.set_meta("scanned_block", str(events.to_block))

    def _record_anchors(self, anchors: list[Anchor]) -> None:
        self.store.add_anchors(anchors)
        for a in anchors:
            latest = self._anchors.get(a.lot)
            if latest is None or a.round > latest.round:
                self._anchors[a.lot] = a
            self._book.forget_upto(a.lot, a.round)
            for key in [k for k in self._retry_at if k[0] == a.lot and k[1] <= a.round]:
                del self._retry_at[key]
            for key in [k for k in self._own if k[0] == a.lot and k[1] <= a.round]:
                del self._own[key]

    def _chain_round(self, lot: bytes) -> int:
        anchor = self._anchors.get(lot)
        return anchor.round if anchor else 0

    # ------------------------------------------------------------------ ingest

    async def _ingest(self, queue: asyncio.Queue[Delivery]) -> None:
        assert self._mqtt is not None
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < MAX_BATCH:
                batch.append(queue.get_nowait())
            while True:
                try:
                    for d in batch:
                        if d.topic.startswith(agreement.TOPIC_PREFIX + "/"):
                            self._on_signature(d.payload)
                    readings = [d for d in batch if not d.topic.startswith(agreement.TOPIC_PREFIX + "/")]
                    if readings:
                        await self._on_readings(readings)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:  # bad payloads never get here: this is the database or the chain
                    logger.exception("failed to handle %d deliveries; retrying", len(batch))
                    await asyncio.sleep(1.0)
            # Acknowledged only now that what they carried is committed.
            for d in batch:
                self._mqtt.ack(d)

    async def _on_readings(self, deliveries: list[Delivery]) -> None:
        rows: list[StoredReading] = []
        now_ms = int(time.time() * 1000)
        for d in deliveries:
            try:
                reading = parse(d.payload)
            except InvalidReading as exc:
                self._drop(exc.reason, d.topic, str(exc))
                continue
            bound = await self._device(reading.device_id)
            if bound is None:
                self._drop("unknown_device", d.topic, reading.device)
                continue
            lot, key = bound
            try:
                verify(reading, key)
            except InvalidReading as exc:
                self._drop(exc.reason, d.topic, f"{reading.device}#{reading.seq}")
                continue
            reason = self._timing_problem(reading, lot, now_ms)
            if reason:
                self._drop(reason, d.topic, f"{reading.device}#{reading.seq}")
                continue
            if reading.device_id not in self._named:
                self.store.name_device(reading.device_id, reading.device)
                self._named.add(reading.device_id)
                self._lot_devices.setdefault(lot, {})[reading.device_id] = reading.device
            rows.append(StoredReading(lot, reading.ts_ms // self._round_ms, reading, d.payload))
        if rows:
            for outcome in self.store.add_readings(rows):
                self.metrics["readings_" + ("accepted" if outcome == "added" else outcome)] += 1

    def _timing_problem(self, reading: Reading, lot: bytes, now_ms: int) -> str | None:
        if reading.ts_ms > now_ms + self.settings.max_clock_skew_s * 1000:
            return "future"
        round_ = reading.ts_ms // self._round_ms
        if round_ <= self._sealed(lot):
            return "late"  # its round's report is signed: the leaf set is fixed
        if reading.ts_ms < now_ms - self._max_age_s * 1000:
            return "stale"
        return None

    def _drop(self, reason: str, topic: str, what: str) -> None:
        self.metrics["dropped_" + reason] += 1
        logger.info("dropped reading on %s (%s): %s", topic, reason, what)

    async def _device(self, device_id: bytes) -> tuple[bytes, str] | None:
        bound = self._devices.get(device_id)
        if bound is not None:
            return bound
        if time.monotonic() < self._unknown.get(device_id, 0.0):
            return None
        try:
            bound = await asyncio.to_thread(self.chain.device, device_id)
        except ChainError as exc:
            logger.warning("cannot look up device %s: %s", device_id.hex(), exc)
            return None
        if bound is None:
            self._unknown[device_id] = time.monotonic() + UNKNOWN_DEVICE_RETRY_S
            return None
        self._devices[device_id] = bound
        self.store.add_device(device_id, *bound)
        self._lot_devices.setdefault(bound[0], {}).setdefault(device_id, "")
        return bound

    # ------------------------------------------------------------------ rounds

    def _sealed(self, lot: bytes) -> int:
        if lot not in self._sealed_upto:
            self._sealed_upto[lot] = self.store.last_sealed(lot)
        return self._sealed_upto[lot]

    async def _tick(self) -> None:
        now = time.time()
        self._seal_due(now)
        self._publish_own(now)
        await self._submit_ready(now)

    def _seal_due(self, now: float) -> None:
        length = self.settings.round_length_s
        closed_upto = math.floor((now - self.settings.settle_delay_s) / length) - 1
        oldest = math.ceil((now - self._max_age_s + AGE_MARGIN_S) / length) - 1
        for lot, record in list(self._lots.items()):
            after = max(self._sealed(lot), self._chain_round(lot), oldest - 1)
            for round_ in self.store.rounds_with_readings(lot, after, closed_upto):
                self._seal(lot, record, round_, self.store.round_readings(lot, round_))
                after = round_
            self._seal_offline(lot, record, after, closed_upto, oldest)

    def _seal_offline(self, lot: bytes, record: LotRecord, after: int, closed_upto: int, oldest: int) -> None:
        """Report a silent lot OFFLINE once, in the round its first device times out (same on every node)."""
        anchor = self._anchors.get(lot)
        if anchor is not None and anchor.status == Status.OFFLINE:
            return
        ctx = self._context(lot, record)
        timeout = self._rules(lot, record).offline_timeout_s or self.settings.offline_timeout_s
        since = offline_since_ms(self.store.last_seen_ms(lot, ctx.devices, 2**62), ctx, timeout)
        if since is None:
            return
        round_ = since // self._round_ms
        if round_ < oldest:  # long silent: retry on a grid every node computes alike
            step = max(1, math.ceil(60 / self.settings.round_length_s))
            round_ += math.ceil((oldest - round_) / step) * step
        if after < round_ <= closed_upto:
            self._seal(lot, record, round_, [])

    def _rules(self, lot: bytes, record: LotRecord) -> Any:
        return self.rules.for_lot(lot, record.goods)

    def _context(self, lot: bytes, record: LotRecord) -> LotContext:
        return LotContext(
            quantity_milli=record.quantity_milli,
            unit=record.unit,
            goods=record.goods,
            devices=dict(self._lot_devices.get(lot, {})),
            registered_at_ms=record.registered_at_ms,
        )

    def _seal(self, lot: bytes, record: LotRecord, round_: int, readings: list[Reading]) -> None:
        window_end_ms = (round_ + 1) * self._round_ms
        ctx = self._context(lot, record)
        verdict = evaluate_round(
            readings,
            self._rules(lot, record),
            ctx,
            last_seen_ms=self.store.last_seen_ms(lot, ctx.devices, window_end_ms),
            window_end_ms=window_end_ms,
            offline_timeout_s=self.settings.offline_timeout_s,
        )
        leaves = [r.leaf for r in readings]
        report = OracleReport(
            lot_id=lot,
            round=round_,
            status=int(verdict.status),
            readings_root=MerkleTree.build(leaves).root if leaves else ZERO_ROOT,
            reading_count=len(set(leaves)),
            observed_at=window_end_ms // 1000,
        )
        message = typed_data.report_message(
            chain_id=self.chain.chain_id, oracle=self.chain.oracle_address, report=report
        )
        digest = typed_data.digest(message)
        signature = typed_data.sign(self.account, message)
        self.store.seal(
            SealedRound(
                lot,
                round_,
                report.status,
                report.readings_root,
                report.reading_count,
                report.observed_at,
                digest,
                verdict.reasons,
            )
        )
        self._sealed_upto[lot] = max(self._sealed(lot), round_)
        self._own[(lot, round_)] = OwnRound(report, digest, signature)
        self._book.add(
            SignedReport(report, digest, self.account.address, signature),
            quorum=self._quorum,
            now=time.monotonic(),
        )
        self.metrics["rounds_sealed"] += 1
        if verdict.status != Status.OK:
            logger.info(
                "lot 0x%s round %s: %s (%s)",
                lot.hex()[:12],
                round_,
                verdict.status.name,
                ", ".join(verdict.reasons),
            )

    def _publish_own(self, now: float) -> None:
        assert self._mqtt is not None
        again_s = max(1.0, float(self.settings.round_length_s))
        for (lot, round_), own in list(self._own.items()):
            if own.report.observed_at + self._max_age_s < now:
                del self._own[(lot, round_)]
                continue
            if now - own.published_at >= again_s:
                payload = agreement.encode(
                    own.report, self.account.address, own.signature, self.settings.node_index
                )
                self._mqtt.publish(agreement.topic(lot, round_), payload)
                own.published_at = now

    def _on_signature(self, payload: bytes) -> None:
        try:
            signed = agreement.decode(
                payload, chain_id=self.chain.chain_id, oracle=self.chain.oracle_address, signers=self._signers
            )
        except BadSignatureMessage as exc:
            self.metrics["signatures_refused"] += 1
            logger.info("refused a signature message: %s", exc)
            return
        if signed.signer.lower() == self.account.address.lower():
            return
        if signed.report.round <= self._chain_round(signed.report.lot_id):
            return
        self._book.add(signed, quorum=self._quorum, now=time.monotonic())
        self.metrics["signatures_received"] += 1

    async def _submit_ready(self, now: float) -> None:
        monotonic = time.monotonic()
        for lot, round_ in sorted(self._book_keys(), key=lambda k: k[1]):
            key = (lot, round_)
            if round_ <= self._chain_round(lot) or key in self._in_flight:
                continue
            own = self._own.get(key)
            candidate = self._book.ready(lot, round_, self._quorum, own.digest if own else None)
            if candidate is None or candidate.quorum_at is None:
                continue
            if candidate.report.observed_at + self._max_age_s < now:
                self._book.forget(lot, round_)
                continue
            delay = agreement.submit_delay(
                self.settings.node_index, round_, self._nodes, self.settings.takeover_s
            )
            if monotonic < max(candidate.quorum_at + delay, self._retry_at.get(key, 0.0)):
                continue
            self._in_flight.add(key)
            asyncio.create_task(
                self._submit(candidate.report, agreement.ordered_signatures(candidate, self._quorum))
            )

    def _book_keys(self) -> list[tuple[bytes, int]]:
        return list(self._book._rounds)

    async def _submit(self, report: OracleReport, signatures: list[bytes]) -> None:
        key = (report.lot_id, report.round)
        try:
            async with self._submit_lock:
                if report.round <= self._chain_round(report.lot_id):
                    return
                started = time.monotonic()
                receipt = await asyncio.to_thread(self.chain.submit, report, signatures)
                self.metrics["reports_submitted"] += 1
                self.metrics["report_gas"] += int(receipt["gasUsed"])
                logger.info(
                    "submitted lot 0x%s round %s status %s (%d readings) in %.0f ms",
                    report.lot_id.hex()[:12],
                    report.round,
                    Status(report.status).name,
                    report.reading_count,
                    (time.monotonic() - started) * 1000,
                )
                self._record_anchors(
                    [
                        Anchor(
                            report.lot_id,
                            report.round,
                            report.status,
                            report.readings_root,
                            report.reading_count,
                            report.observed_at,
                            int(receipt["blockNumber"]),
                        )
                    ]
                )
        except GoodsOracleError as exc:
            if exc.name in ("GoodsOracleStaleRound", "GoodsOracleStaleReport"):
                # Another node got there first (or the round aged out): nothing left to do.
                self.metrics["reports_already_done" if exc.name.endswith("Round") else "reports_stale"] += 1
                self._book.forget(*key)
            else:
                self.metrics["reports_refused"] += 1
                logger.warning(
                    "report for lot 0x%s round %s refused: %s", report.lot_id.hex()[:12], report.round, exc
                )
                self._retry_at[key] = time.monotonic() + self.settings.takeover_s
        except ChainError as exc:
            self.metrics["reports_failed"] += 1
            logger.warning("could not submit round %s: %s", report.round, exc)
            self._retry_at[key] = time.monotonic() + self.settings.takeover_s
        finally:
            self._in_flight.discard(key)

    # ------------------------------------------------------------------ views

    def status(self) -> dict[str, Any]:
        """Counters and the latest anchored round per lot (for the status endpoint and benchmarks)."""
        return {
            "node": self.settings.node_index,
            "signer": self.account.address,
            "readings_stored": self.store.reading_count(),
            "metrics": dict(self.metrics),
            "lots": {
                "0x" + lot.hex(): {"round": a.round, "status": Status(a.status).name, "readings": a.count}
                for lot, a in self._anchors.items()
            },
        }
