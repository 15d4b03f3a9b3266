"""Steps 8-10 of the reference story, and step 12's sensor proof: goods watched by sensors.

Devices are simulated (`iot_gateway.simulator`) and publish signed readings to the network's
broker; the gateway and the oracle nodes of the running network do the rest. Members act
through the API only. The one thing done straight on chain is what a rogue oracle node would
do: submit a report with its own signature alone, which the goods oracle must refuse.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from eth_account import Account
from eth_utils import keccak

from chain.client import ChainClient
from chain.errors import ContractRevert
from chain.manifest import Deployment
from chain.suite import Suite
from chain.typed_data import OracleReport, sign_report
from iot_gateway.broker import BrokerAddress
from iot_gateway.simulator import Anomaly, SimDevice, Simulator, make_devices
from scripts.story import DAY_S, pdf

if TYPE_CHECKING:
    from scripts.story import Story

LOT_TONNES = 120
STATUS_TIMEOUT_S = 120.0


class Streaming:
    """A simulator publishing in a background thread until stopped."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.thread = threading.Thread(target=sim.run, kwargs={"duration_s": 3_600}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.sim.stop()
        self.thread.join(timeout=30)


class GoodsStory:
    """The goods steps against one running network."""

    def __init__(
        self,
        rpc_url: str,
        mqtt_url: str,
        manifest: Path,
        oracle_keys: list[str],
        gateway_url: str | None = None,
    ) -> None:
        parts = urlsplit(mqtt_url)
        self.gateway_url = gateway_url
        self.broker = BrokerAddress(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.rpc_url = rpc_url
        self.manifest = manifest
        self.oracle_keys = oracle_keys
        self.facts: dict[str, Any] = {}

    # -- helpers ---------------------------------------------------------------------------

    def _wait(self, what: str, probe: Callable[[], Any], timeout_s: float = STATUS_TIMEOUT_S) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(0.5)
        from scripts.story import StoryDeviation

        raise StoryDeviation(f"{what}: not within {timeout_s:.0f} s")

    def _lot(self, story: Story, who: str = "North Logistics") -> dict[str, Any]:
        m = story.cast[who]
        return story.expect(story.http.get(f"/lots/{self.facts['lot_id']}", headers=m.headers), 200)

    def _lot_in(self, story: Story, status: str) -> dict[str, Any] | None:
        lot = self._lot(story)
        return lot if lot["status"] == status else None

    def _receipt(self, story: Story, who: str) -> dict[str, Any]:
        m = story.cast[who]
        return story.expect(story.http.get(f"/receipts/{self.facts['lot_id']}", headers=m.headers), 200)

    def _gateway_drops(self, story: Story) -> dict[str, int]:
        if not self.gateway_url:
            return {}
        return dict(httpx.get(f"{self.gateway_url}/health", timeout=5).json().get("dropped", {}))

    # -- the steps -------------------------------------------------------------------------

    def run(self, story: Story) -> None:
        try:
            self.step8_lot_and_pledge(story)
            self.step9_alert(story)
            self.step10_forgeries(story)
        finally:
            for streaming in self.facts.pop("streams", []):
                streaming.stop()

    def step8_lot_and_pledge(self, story: Story) -> None:
        story.step(
            8, "North Logistics registers LOT-7 with 3 devices, issues a receipt to Delta; Delta pledges it"
        )
        north, delta, bank_b = story.cast["North Logistics"], story.cast["Delta Brakes"], story.cast["Bank B"]
        suffix = f"-{story.run_id}" if story.run_id else ""
        devices = make_devices(f"LOT-7{suffix}", 3)
        for d in devices:  # every simulated device also weighs the whole lot
            d.base_weight_g = LOT_TONNES * 1_000_000
        self.devices: list[SimDevice] = devices
        body = {
            "reference": f"LOT-7{suffix}",
            "goods": "steel coils",
            "specification": "cold-rolled, 1.2 mm, 12 coils",
            "quantity": str(LOT_TONNES),
            "unit": "t",
            "location": "North Logistics, Shanghai, bay 3",
            "devices": [{"device": d.name, "key": d.key.address} for d in devices],
        }
        r = story.expect(story.http.post("/lots?wait=true", json=body, headers=north.headers), 201)
        self.facts["lot_id"] = r["result"]["id"]
        story.say(
            "North",
            f"registered {body['reference']}: {LOT_TONNES} t of steel coils, devices "
            f"{', '.join(d.name for d in devices)}",
            r["operation"]["tx_hash"],
        )
        self.facts["streams"] = [Streaming(Simulator(devices, self.broker, rate_hz=1.0))]
        story.say("Devices", "stream signed readings to the broker, once a second each")
        lot = self._wait("the oracles report the lot OK", lambda: self._lot_in(story, "ok"))
        story.say("Oracles", f"agreed the lot is OK (round {lot['round']}) and anchored it on chain")
        r = story.http.post(
            f"/lots/{self.facts['lot_id']}/receipt?wait=true",
            data={"owner_credit_code": delta.credit_code},
            files={
                "document": (
                    "LOT-7-receipt.pdf",
                    pdf(f"warehouse receipt LOT-7 {story.run_id}"),
                    "application/pdf",
                )
            },
            headers=north.headers,
        )
        receipt = story.expect(r, 201)
        story.say("North", "issued the warehouse receipt to Delta", receipt["operation"]["tx_hash"])
        until = int(time.time()) + 180 * DAY_S
        r = story.http.post(
            f"/receipts/{self.facts['lot_id']}/pledge?wait=true",
            json={"bank_credit_code": bank_b.credit_code, "pledged_until": until},
            headers=delta.headers,
        )
        pledged = story.expect(r, 200)["result"]
        story.check(
            pledged["state"] == "pledged" and pledged["pledgee_org"] == bank_b.chain_org_id, f"{pledged}"
        )
        story.say("Delta", "pledged the receipt to Bank B for a loan, for 180 days", None)

    def step9_alert(self, story: Story) -> None:
        story.step(
            9,
            "The weight drops 15 % and the door opens outside hours: ALERT, the receipt freezes, "
            "Bank B is told",
        )
        bank_b = story.cast["Bank B"]
        for streaming in self.facts.pop("streams"):
            streaming.stop()
        anomalies = [Anomaly.parse("weight_drop=15#1"), Anomaly.parse("door#2")]
        started = time.monotonic()
        self.facts["streams"] = [
            Streaming(Simulator(self.devices, self.broker, rate_hz=1.0, anomalies=anomalies))
        ]
        story.say(
            "Devices",
            f"{self.devices[1].name} weighs 15 % less; {self.devices[2].name} reports the door open",
        )
        lot = self._wait("the lot goes to ALERT", lambda: self._lot_in(story, "alert"))
        story.say(
            "Oracles",
            f"reached quorum: the lot is in ALERT (round {lot['round']}), "
            f"{time.monotonic() - started:.1f} s after the first bad reading",
        )
        receipt = self._wait(
            "the receipt freezes", lambda: (r := self._receipt(story, "Bank B"))["frozen"] and r
        )
        story.check(receipt["pledgee_org"] == bank_b.chain_org_id, f"{receipt}")
        story.say("Chain", "froze the pledged receipt with the lot's status")
        alerts = self._wait(
            "Bank B is told",
            lambda: [
                a
                for a in story.expect(story.http.get("/alerts", headers=bank_b.headers), 200)["data"]
                if a["lot_id"] == self.facts["lot_id"]
            ],
        )
        kinds = sorted({f"{a['kind']}:{a['status']}" for a in alerts})
        story.say("Bank B", f"was told: {', '.join(kinds)}")
        story.say(
            "Bank B",
            "may now enforce the frozen pledge before its term (the contract allows it while frozen); "
            "the owner can do nothing with the receipt",
        )

    def step10_forgeries(self, story: Story) -> None:
        story.step(
            10, "A forged reading and a replayed one are dropped; a report signed by 1 oracle is refused"
        )
        before = self._gateway_drops(story)
        forger = Simulator(self.devices[:1], self.broker, rate_hz=0, anomalies=[Anomaly.parse("forged")])
        forger.run(count=1)
        replayer = Simulator(self.devices[:1], self.broker, rate_hz=0, anomalies=[Anomaly.parse("replay")])
        replayer.run(count=1)
        story.say(
            "Someone",
            f"published a reading for {self.devices[0].name} signed with another key, "
            "and replayed an earlier one",
        )
        if self.gateway_url:
            after = self._wait(
                "the gateway drops both",
                lambda: (
                    (d := self._gateway_drops(story)).get("bad_signature", 0) > before.get("bad_signature", 0)
                    and d.get("replay", 0) > before.get("replay", 0)
                    and d
                ),
                timeout_s=30,
            )
            story.say(
                "Gateway",
                f"dropped them: bad_signature {after['bad_signature']}, replay {after['replay']} "
                "(counted in its metrics)",
            )
        self._one_signature_report(story)

    def _one_signature_report(self, story: Story) -> None:
        client = ChainClient.connect(self.rpc_url)
        deployment = Deployment.read(self.manifest)
        oracle = Suite.bind(client, deployment).oracle
        rogue = Account.from_key(self.oracle_keys[0])
        lot_id = bytes.fromhex(self.facts["lot_id"].removeprefix("0x"))
        last = client.call(oracle.functions.lotStatus(lot_id))
        report = OracleReport(
            lot_id=lot_id,
            round=int(last[1]) + 1,  # LotStatus(status, round, observedAt, reportedAt)
            status=1,  # OK: what a rogue node would claim to thaw the receipt
            readings_root=keccak(text=f"rogue report {story.run_id}"),
            reading_count=1,
            # As fresh as can be: neither older than the last accepted report nor than the chain's
            # clock (which may run ahead of the wall clock), so only the missing quorum refuses it.
            observed_at=max(int(last[2]), int(client.w3.eth.get_block("latest")["timestamp"])),
        )
        sigs = sign_report([rogue], chain_id=client.chain_id, oracle=oracle.address, report=report)
        try:
            client.transact(oracle.functions.submitReport(report.as_tuple(), sigs), rogue)
        except ContractRevert as exc:
            story.check(exc.name == "GoodsOracleQuorumNotMet", f"refused for another reason: {exc}")
            story.say(
                "Oracle 0",
                f"submitted an OK report with its signature alone: [yellow]refused[/yellow] on chain ({exc})",
            )
        else:
            story.check(False, "a report signed by one oracle was accepted")
        story.check(self._lot(story)["status"] == "alert", "the lot left ALERT")

    def audit(self, story: Story) -> None:
        """Step 12: CPA proves one sensor reading against an anchored Merkle root."""
        cpa = story.cast["CPA Audit"]
        device = self.devices[1].name
        r = self._wait(
            "a proof of reading 1",
            lambda: (
                (
                    resp := story.http.get(
                        f"/lots/{self.facts['lot_id']}/readings/{device}/1/proof", headers=cpa.headers
                    )
                ).status_code
                == 200
                and resp.json()
            ),
            timeout_s=60,
        )
        story.check(r["verified"] is True and r["root"] == r["anchored_root"], f"proof: {r}")
        story.say(
            "CPA",
            f"proved {device}'s reading 1 against the root anchored for round {r['round']} "
            f"({len(r['proof'])} hashes), tx {r['report_tx_hash']}",
        )
