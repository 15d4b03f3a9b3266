"""Per-device runs of sequence numbers and the lot watermark they give."""

from __future__ import annotations

from oracle.frontier import NONE, Frontiers

A, B = b"\x0a" * 32, b"\x0b" * 32


def test_watermark_is_the_slowest_devices_unbroken_run() -> None:
    f = Frontiers()
    assert f.watermark([A, B]) == NONE
    f.observe(A, 1, 1_000)
    assert f.watermark([A, B]) == NONE  # B has sent nothing
    f.observe(B, 1, 1_100)
    f.observe(A, 2, 1_200)
    assert f.watermark([A, B]) == 1_100
    assert f.watermark([A]) == 1_200
    assert f.watermark([]) == NONE


def test_gap_holds_the_run_until_filled_out_of_order() -> None:
    f = Frontiers()
    f.observe(A, 1, 1_000)
    f.observe(A, 3, 3_000)
    f.observe(A, 4, 4_000)
    assert f.watermark([A]) == 1_000  # seq 2 still in flight
    f.observe(A, 2, 2_000)
    assert f.watermark([A]) == 4_000
    f.observe(A, 2, 2_000)  # a redelivery changes nothing
    assert f.watermark([A]) == 4_000


def test_run_not_starting_at_one_waits_for_skip_to() -> None:
    f = Frontiers()
    f.observe(A, 500, 5_000)
    assert f.watermark([A]) == NONE
    f.skip_to(A, 499, 4_990)  # a timer-sealed round settled everything up to 499
    assert f.watermark([A]) == 5_000


def test_skip_to_passes_a_permanent_gap_and_keeps_what_is_beyond() -> None:
    f = Frontiers()
    f.observe(A, 1, 1_000)
    f.observe(A, 3, 3_000)  # seq 2 never comes (dropped by the gateway)
    f.skip_to(A, 2, 2_500)
    assert f.watermark([A]) == 3_000
    f.skip_to(A, 1, 1_000)  # behind the run: no effect
    assert f.watermark([A]) == 3_000


def test_devices_with_history_are_unknown_until_skip_to() -> None:
    f = Frontiers(devices_with_history=[A])
    f.observe(A, 7, 7_000)
    assert f.watermark([A]) == NONE
    f.skip_to(A, 7, 7_000)
    f.observe(A, 8, 8_000)
    assert f.watermark([A]) == 8_000
