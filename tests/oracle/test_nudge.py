"""A delivery wakes the round pass only when it may let a round be sealed (no network needed)."""

from __future__ import annotations

from pathlib import Path

from oracle.node import OracleNode
from oracle.settings import OracleSettings

LOT = b"\x01" * 32
DEV_A, DEV_B = b"\xaa" * 32, b"\xbb" * 32


def _node(tmp_path: Path) -> OracleNode:
    settings = OracleSettings(key="0x" + "11" * 32, data_dir=tmp_path, round_length_s=1, http_port=None)
    node = OracleNode(settings)
    node._lot_devices[LOT] = {DEV_A: "a", DEV_B: "b"}
    return node


def test_may_seal_when_the_lot_watermark_enters_a_new_round(tmp_path: Path) -> None:
    node = _node(tmp_path)
    node._frontiers.observe(DEV_A, 1, 1_000)
    assert not node._may_seal(LOT)  # device b has sent nothing: no watermark
    node._frontiers.observe(DEV_B, 1, 1_200)
    assert node._may_seal(LOT)  # both reach second 1: round 0 is complete
    node._frontiers.observe(DEV_A, 2, 1_500)
    node._frontiers.observe(DEV_B, 2, 1_900)
    assert not node._may_seal(LOT)  # still inside second 1: nothing new to seal
    node._frontiers.observe(DEV_A, 3, 2_100)
    assert not node._may_seal(LOT)  # device b holds the watermark in second 1
    node._frontiers.observe(DEV_B, 3, 2_050)
    assert node._may_seal(LOT)  # round 1 complete
    assert not node._may_seal(b"\x02" * 32)  # a lot without devices


def test_may_seal_while_an_alert_waits_for_its_cut(tmp_path: Path) -> None:
    node = _node(tmp_path)
    node._frontiers.observe(DEV_A, 1, 1_000)
    node._frontiers.observe(DEV_B, 1, 1_100)
    assert node._may_seal(LOT)
    node._alerts[(LOT, 1)] = [1_400]
    node._frontiers.observe(DEV_A, 2, 1_500)
    assert node._may_seal(LOT)  # same round, but the cut may now be possible
    node._alerts.clear()
    assert not node._may_seal(LOT)
