"""One oracle node: verify readings, seal rounds, exchange signatures, submit reports.

Everything runs on one asyncio loop: the MQTT thread only enqueues deliveries, chain calls run in
worker threads, and the database is touched from the loop alone.

Rounds of a lot are anchored in order. `GoodsOracle` refuses a round at or below the lot's last
one, so a later round anchored first (its leader is another node, or the earlier round's leader is
slow or down and the takeover is still waiting) would leave the earlier round's readings unproven
for good. A node therefore submits round r of a lot only once every earlier round it knows of
(sealed itself, or seen signed by others) is anchored, or has waited `order_timeout_s` and is
passed over. We chose ordering over folding a pending round's readings into the next report:
which rounds are "pending" depends on each node's lagging view of the chain, so folded leaf sets
(and digests) would differ between nodes and lose their quorum; ordering needs no agreement
beyond the existing one, and a reading stays in the round it was sealed in. Whatever is still
passed over (a round that never reached quorum, or one anchored too late) is not silent: when the
chain anchors a later round, the node records the earlier rounds it holds readings of as `skipped`
with a reason, counts them in `metrics.readings_unanchored`, and the proof endpoint answers
`skipped` for them.

Sealing: a round is sealed as soon as the node holds every reading of the lot up to the round's
end (`oracle.frontier`: every device has an unbroken run of sequence numbers past it), which gives
the same leaves on every node however far behind it runs; otherwise (a silent device, a gap) by
the timer: `settle_delay_s` after the round's end once no reading of it has come in for
`settle_delay_s` either (a node working off a backlog keeps its round open rather than seal half
of it), and at the latest `MAX_SETTLE_FACTOR` settle delays after its end.

An ALERT reading ends its round at once instead of waiting for the round's end: when the node
holds every reading of the lot up to the earliest ALERT reading of the open round, and the lot's
previous round was not ALERT, the round is cut right after that reading, sealed and reported; its
later readings move to the next round (`OracleStore.cut`). Every node computes the same cut, since
it holds the same readings up to it.
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
from chain.readings import InvalidReading, Reading, batch_count, check, decode_batch, is_batch, parse
from chain.readings import device_id as device_id_of
from chain.typed_data import OracleReport
from oracle import agreement
from oracle.agreement import BadSignatureMessage, SignatureBook, SignedReport
from oracle.chain_view import OracleChain
from oracle.frontier import NONE, Frontiers
from oracle.mqtt import Delivery, MqttLink
from oracle.rules import (
    LotContext,
    RulesConfig,
    Status,
    evaluate_round,
    load_rules,
    offline_since_ms,
    reading_findings,
)
from oracle.settings import OracleSettings
from oracle.store import Anchor, LotRecord, OracleStore, SealedRound, StoredReading

logger = logging.getLogger(__name__)

ZERO_ROOT = b"\x00" * 32
# Rounds this close to the contract's maximum report age are not worth signing any more.
AGE_MARGIN_S = 10
UNKNOWN_DEVICE_RETRY_S = 5.0
PARAMS_REFRESH_S = 5.0
MAX_BATCH = 2_000  # readings handled (and committed) per transaction, batches counted by their readings
MAX_SETTLE_FACTOR = 10
# Parsed readings kept for sealing; past this many (rounds this node never seals: the chain went past
# them) the cache is dropped and the next seals parse the stored payloads again.
MAX_PARSED = 200_000


@dataclass
class OwnRound:
    """A round this node sealed, signed and keeps publishing until it is anchored."""

    report: OracleReport
    digest: bytes
    signature: bytes
    sealed_at: float  # time.monotonic()
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
        self._passed_over: set[tuple[bytes, int]] = set()  # earlier rounds no longer waited for
        self._skip_reasons: dict[tuple[bytes, int], str] = {}  # why a round below an anchor has none
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
        self._frontiers = Frontiers(self.store.devices_with_readings())
        self._cuts: dict[tuple[bytes, int], int] = self.store.cuts()
        self._alerts: dict[tuple[bytes, int], list[int]] = {}  # ALERT readings' times per open round
        self._last_status: dict[bytes, int] = {}
        self._nudge = asyncio.Event()  # something may be ready to seal or submit: do not wait for the tick
        # Per lot, the round its watermark was in at the last nudge.
        self._complete_seen: dict[bytes, int] = {}
        self._arrived_at: dict[tuple[bytes, int], float] = {}  # when a reading of the round last came in
        self._stored = self.store.reading_count()
        # Readings stored since start and not sealed yet, parsed: sealing their round takes them from here.
        self._parsed: dict[tuple[str, int], Reading] = {}
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
        self._mqtt = MqttLink(
            self.settings.broker,
            f"scf-oracle-{self.settings.node_index}-{self.account.address[2:10].lower()}",
            [self.settings.verified_topic, f"{agreement.TOPIC_PREFIX}/+/+"],
            loop,
        )
        runner = None
        if self.settings.http_port is not None:
            from oracle.http import start_http

            runner, self.http_port = await start_http(self, self.settings.http_host, self.settings.http_port)
        self._mqtt.start()
        tasks = [
            asyncio.create_task(self._ingest(), name="oracle-ingest"),
            asyncio.create_task(
                self._every(self.settings.chain_poll_s, self._poll_chain), name="oracle-chain"
            ),
            asyncio.create_task(self._every(self._tick_s, self._tick, self._nudge), name="oracle-rounds"),
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

    async def _every(self, period_s: float, work: Any, nudge: asyncio.Event | None = None) -> None:
        while True:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive one bad pass
                logger.exception("oracle %s failed; continuing", work.__name__)
            if nudge is None:
                await asyncio.sleep(period_s)
                continue
            try:
                await asyncio.wait_for(nudge.wait(), period_s)
            except TimeoutError:
                pass
            nudge.clear()

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
        self._record_anchors(events.anchors, scanned=True)
        self.store.set_meta("scanned_block", str(events.to_block))

    def _record_anchors(self, anchors: list[Anchor], *, scanned: bool = False) -> None:
        """Remember reports accepted on chain. `scanned`: read from the chain's logs in block order, so
        every earlier anchor of the lot is known too, and a round of readings below one of these
        without an anchor of its own was passed over for good."""
        self.store.add_anchors(anchors)
        for a in anchors:
            self._skip_reasons.pop((a.lot, a.round), None)
            # What this node knew of the earlier rounds, before forgetting it below.
            below = {r for (lt, r) in [*self._own, *self._book.keys(), *self._passed_over] if lt == a.lot}
            for r in below - {a.round}:
                if r < a.round:
                    self._skip_reasons.setdefault((a.lot, r), self._skip_reason(a.lot, r))
            if scanned:
                self._account_skipped(a)
            latest = self._anchors.get(a.lot)
            if latest is None or a.round > latest.round:
                self._anchors[a.lot] = a
            self._book.forget_upto(a.lot, a.round)
            for key in [k for k in self._retry_at if k[0] == a.lot and k[1] <= a.round]:
                del self._retry_at[key]
            for key in [k for k in self._own if k[0] == a.lot and k[1] <= a.round]:
                del self._own[key]
            self._passed_over = {k for k in self._passed_over if k[0] != a.lot or k[1] > a.round}

    def _account_skipped(self, anchor: Anchor) -> None:
        """Record and count the rounds with readings the chain passed over below `anchor`."""
        for key in [k for k in self._skip_reasons if k[0] == anchor.lot and k[1] < anchor.round]:
            if self.store.anchored(*key):
                del self._skip_reasons[key]
        for round_, count in self.store.unanchored_before(anchor.lot, anchor.round):
            key = (anchor.lot, round_)
            reason = self._skip_reasons.pop(key, None) or self._skip_reason(*key)
            if not self.store.add_skipped(anchor.lot, round_, count, reason):
                continue
            self.metrics["rounds_skipped"] += 1
            self.metrics["readings_unanchored"] += count
            logger.warning(
                "lot 0x%s round %s passed over on chain (round %s anchored first, %s): %d readings"
                " of this node stay unproven",
                anchor.lot.hex()[:12],
                round_,
                anchor.round,
                reason,
                count,
            )

    def _skip_reason(self, lot: bytes, round_: int) -> str:
        """Why round `round_` of `lot` would have no anchor, as far as this node can tell now."""
        candidates = self._book.rounds(lot).get(round_, [])
        if (lot, round_) in self._passed_over:
            return "order_timeout"  # this node stopped waiting for it
        if any(len(c.signatures) >= self._quorum for c in candidates):
            return "overtaken"  # it had its quorum, a later round got there first
        if (lot, round_) in self._own or candidates:
            return "no_quorum"
        return "not_sealed"

    def _chain_round(self, lot: bytes) -> int:
        anchor = self._anchors.get(lot)
        return anchor.round if anchor else 0

    # ------------------------------------------------------------------ ingest

    async def _ingest(self) -> None:
        assert self._mqtt is not None
        while True:
            batch = await self._mqtt.next_batch(MAX_BATCH, lambda d: batch_count(d.payload))
            while True:
                try:
                    readings: list[tuple[str, bytes]] = []
                    for d in batch:
                        if d.topic.startswith(agreement.TOPIC_PREFIX + "/"):
                            self._on_signature(d.payload)
                        else:
                            readings.extend(self._unpack(d))
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

    def _unpack(self, delivery: Delivery) -> list[tuple[str, bytes]]:
        """The readings a `verified/` message carries: one, or a gateway's batch (none if malformed)."""
        if not is_batch(delivery.payload):
            return [(delivery.topic, delivery.payload)]
        try:
            payloads = decode_batch(delivery.payload)
        except InvalidReading as exc:
            self._drop(exc.reason, delivery.topic, str(exc))
            return []
        self.metrics["batches_received"] += 1
        return [(delivery.topic, payload) for payload in payloads]

    async def _on_readings(self, deliveries: list[tuple[str, bytes]]) -> None:
        rows: list[StoredReading] = []
        now_ms = int(time.time() * 1000)
        for topic, payload in deliveries:
            try:
                reading = parse(payload)
            except InvalidReading as exc:
                self._drop(exc.reason, topic, str(exc))
                continue
            device_id = device_id_of(reading.device)
            bound = self._devices.get(device_id) or await self._device(device_id)
            if bound is None:
                self._drop("unknown_device", topic, reading.device)
                continue
            lot, key = bound
            try:
                checked = check(reading, key)
            except InvalidReading as exc:
                self._drop(exc.reason, topic, f"{reading.device}#{reading.seq}")
                continue
            round_, reason = self._placement(reading, lot, now_ms)
            if reason:
                if self.store.has_reading(reading.device, reading.seq, checked.payload_hash):
                    self.metrics["readings_duplicate"] += 1  # a redelivery of one it holds already
                else:
                    self._drop(reason, topic, f"{reading.device}#{reading.seq}")
                continue
            if device_id not in self._named:
                self.store.name_device(device_id, reading.device)
                self._named.add(device_id)
                self._lot_devices.setdefault(lot, {})[device_id] = reading.device
            rows.append(
                StoredReading(lot, round_, reading, payload, device_id, checked.payload_hash, checked.leaf)
            )
        if not rows:
            return
        contexts: dict[bytes, tuple[Any, LotContext]] = {}
        arrived = time.monotonic()
        for row, outcome in zip(rows, self.store.add_readings(rows), strict=True):
            self.metrics["readings_" + ("accepted" if outcome == "added" else outcome)] += 1
            if outcome != "added":
                continue
            self._stored += 1
            if len(self._parsed) >= MAX_PARSED:
                self._parsed.clear()
            self._parsed[(row.reading.device, row.reading.seq)] = row.reading
            self._arrived_at[(row.lot, row.round)] = arrived
            self._frontiers.observe(row.device_id, row.reading.seq, row.reading.ts_ms)
            record = self._lots.get(row.lot)
            if record is None:
                continue
            if row.lot not in contexts:
                contexts[row.lot] = (self._rules(row.lot, record), self._context(row.lot, record))
            rules, ctx = contexts[row.lot]
            if any(f.status == Status.ALERT for f in reading_findings(row.reading, rules, ctx)):
                self._alerts.setdefault((row.lot, row.round), []).append(row.reading.ts_ms)
        # Not after every delivery: at a few hundred gateway batches a second, a round pass per batch
        # cost more than sealing. Timer seals wait for the periodic tick as they always did.
        if any([self._may_seal(lot) for lot in {row.lot for row in rows}]):
            self._nudge.set()

    def _may_seal(self, lot: bytes) -> bool:
        """Whether readings just stored may let a round of `lot` be sealed before the next tick: the
        lot's watermark entered a new round (the one before is complete), or an ALERT waits for its cut."""
        devices = self._lot_devices.get(lot)
        if not devices:
            return False
        watermark = self._frontiers.watermark(list(devices))
        complete = watermark // self._round_ms if watermark != NONE else -1
        if complete > self._complete_seen.get(lot, -1):
            self._complete_seen[lot] = complete
            return True
        return any(lt == lot for lt, _ in self._alerts)

    def _placement(self, reading: Reading, lot: bytes, now_ms: int) -> tuple[int, str | None]:
        """The round a reading belongs to, and why it cannot be taken (None: it can)."""
        round_ = reading.ts_ms // self._round_ms
        cut = self._cuts.get((lot, round_))
        if cut is not None and reading.ts_ms > cut:
            round_ += 1  # its round was ended early by an alert: it opens the next one
        if reading.ts_ms > now_ms + self.settings.max_clock_skew_s * 1000:
            return round_, "future"
        if round_ <= self._sealed(lot) or round_ <= self._chain_round(lot):
            # Its round's report is signed, or the chain is past it: that round's leaves are fixed.
            return round_, "late"
        if reading.ts_ms < now_ms - self._max_age_s * 1000:
            return round_, "stale"
        return round_, None

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
        settle = self.settings.settle_delay_s
        timer_upto = math.floor((now - settle) / length) - 1
        forced_upto = math.floor((now - MAX_SETTLE_FACTOR * settle) / length) - 1
        oldest = math.ceil((now - self._max_age_s + AGE_MARGIN_S) / length) - 1
        quiet_since = time.monotonic() - settle
        for lot, record in list(self._lots.items()):
            devices = list(self._lot_devices.get(lot, {}))
            watermark = self._frontiers.watermark(devices) if devices else NONE
            complete_upto = watermark // self._round_ms - 1 if watermark != NONE else -1
            after = max(self._sealed(lot), self._chain_round(lot), oldest - 1)
            for round_ in self.store.rounds_with_readings(lot, after, max(timer_upto, complete_upto)):
                if (
                    round_ > max(complete_upto, forced_upto)
                    and self._arrived_at.get((lot, round_), 0) > quiet_since
                ):
                    break  # readings of it still coming in: not settled yet
                self._seal(lot, record, round_, self.store.round_readings(lot, round_, self._parsed))
                if round_ > complete_upto:  # sealed by the timer: runs with gaps continue past it
                    self._skip_frontiers(lot, devices, round_)
                after = round_
            if lot not in self._last_status:
                self._last_status[lot] = self._sealed_status(lot)
            if watermark != NONE and self._last_status[lot] != Status.ALERT:
                self._cut_at_alert(lot, record, after, watermark)
            self._seal_offline(lot, record, max(after, self._sealed(lot)), timer_upto, oldest)
        for key in [k for k in self._alerts if k[1] <= self._sealed(k[0])]:
            del self._alerts[key]
        for key in [k for k in self._arrived_at if k[1] <= self._sealed(k[0])]:
            del self._arrived_at[key]

    def _cut_at_alert(self, lot: bytes, record: LotRecord, after: int, watermark: int) -> None:
        """End the open round at its earliest ALERT reading if every reading up to it is held."""
        pending = [(r, min(times)) for (lt, r), times in self._alerts.items() if lt == lot and r > after]
        if not pending:
            return
        round_, cut_ms = min(pending)
        if cut_ms > watermark:
            return
        self.store.cut(lot, round_, cut_ms)
        self._cuts[(lot, round_)] = cut_ms
        later = [t for t in self._alerts.pop((lot, round_)) if t > cut_ms]
        if later:
            self._alerts.setdefault((lot, round_ + 1), []).extend(later)
        self.metrics["rounds_cut_at_alert"] += 1
        self._seal(
            lot,
            record,
            round_,
            self.store.round_readings(lot, round_, self._parsed),
            window_end_ms=cut_ms + 1,
        )

    def _skip_frontiers(self, lot: bytes, devices: list[bytes], round_: int) -> None:
        for device in devices:
            last = self.store.last_reading_upto(lot, device, round_)
            if last is not None:
                self._frontiers.skip_to(device, *last)

    def _sealed_status(self, lot: bytes) -> int:
        sealed = self.store.sealed(lot, self._sealed(lot))
        return sealed.status if sealed is not None else int(Status.UNKNOWN)

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

    def _seal(
        self,
        lot: bytes,
        record: LotRecord,
        round_: int,
        readings: list[Reading],
        *,
        window_end_ms: int | None = None,
    ) -> None:
        if window_end_ms is None:
            cut = self._cuts.get((lot, round_))
            window_end_ms = cut + 1 if cut is not None else (round_ + 1) * self._round_ms
        ctx = self._context(lot, record)
        verdict = evaluate_round(
            readings,
            self._rules(lot, record),
            ctx,
            last_seen_ms=self.store.last_seen_ms(lot, ctx.devices, window_end_ms),
            window_end_ms=window_end_ms,
            offline_timeout_s=self.settings.offline_timeout_s,
        )
        leaves = self.store.round_leaves(lot, round_) if readings else []
        report = OracleReport(
            lot_id=lot,
            round=round_,
            status=int(verdict.status),
            readings_root=MerkleTree.build(leaves).root if leaves else ZERO_ROOT,
            reading_count=len(set(leaves)),
            observed_at=-(-window_end_ms // 1000),  # the window's end, in whole seconds
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
        self._last_status[lot] = report.status
        self._own[(lot, round_)] = OwnRound(report, digest, signature, time.monotonic())
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
        for lot, round_ in sorted(self._book.keys(), key=lambda k: k[1]):
            key = (lot, round_)
            if round_ <= self._chain_round(lot) or key in self._in_flight:
                continue
            if self._waits_for_earlier(lot, round_, monotonic):
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

    def _waits_for_earlier(self, lot: bytes, round_: int, monotonic: float) -> bool:
        """Whether an earlier round of `lot` must be anchored first (past `order_timeout_s`: passed over)."""
        chain_round = self._chain_round(lot)
        known: dict[int, float] = {}
        for (lt, r), own in self._own.items():
            if lt == lot and chain_round < r < round_:
                known[r] = own.sealed_at
        for r, candidates in self._book.rounds(lot).items():
            if chain_round < r < round_:
                first = min(c.seen_at for c in candidates)
                known[r] = min(known.get(r, first), first)
        for r in sorted(known):
            if (lot, r) in self._passed_over:
                continue
            if monotonic - known[r] <= self.settings.order_timeout_s:
                return True
            self._passed_over.add((lot, r))
            self.metrics["rounds_passed_over"] += 1
            logger.warning(
                "lot 0x%s round %s not anchored after %.0f s: no longer holding round %s back for it",
                lot.hex()[:12],
                r,
                self.settings.order_timeout_s,
                round_,
            )
        return False

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
            if exc.name == "GoodsOracleStaleRound":
                # Another node anchored this round (done), or a later one (this round is passed over:
                # the chain scan records and counts it as skipped).
                if int(exc.args_by_name.get("lastRound", -1)) == report.round:
                    self.metrics["reports_already_done"] += 1
                    self._book.forget(*key)
                else:
                    self.metrics["reports_overtaken"] += 1
                    self._retry_at[key] = time.monotonic() + self.settings.takeover_s
            elif exc.name == "GoodsOracleStaleReport":
                self.metrics["reports_stale"] += 1  # aged out on chain
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
            "readings_stored": self._stored,
            "metrics": dict(self.metrics),
            "lots": {
                "0x" + lot.hex(): {"round": a.round, "status": Status(a.status).name, "readings": a.count}
                for lot, a in self._anchors.items()
            },
        }
