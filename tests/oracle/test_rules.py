"""The rules, as pure functions: one group per rule, then the round verdict and the rules file."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

import pytest

from chain.readings import Measurements, Reading, device_id
from oracle.errors import OracleConfigError
from oracle.rules import (
    CST,
    Geofence,
    Limits,
    LotContext,
    LotRules,
    RulesConfig,
    Status,
    band_findings,
    distance_m,
    door_findings,
    evaluate_round,
    expected_weight_g,
    geofence_findings,
    load_rules,
    offline_findings,
    offline_since_ms,
    shock_findings,
    weight_findings,
    within_hours,
    worst,
)

LOT = b"\x07" * 32
CTX = LotContext(
    quantity_milli=120_000,
    unit="t",
    goods="steel coils",
    devices={device_id("w"): "w", device_id("t"): "t"},
    registered_at_ms=1_000_000,
)
RULES = LotRules()


def cst_ms(hour: int, minute: int = 0) -> int:
    return int(datetime(2025, 11, 22, hour, minute, tzinfo=CST).timestamp() * 1000)


def reading(ts_ms: int = 1_700_000_000_000, device: str = "w", **m: object) -> Reading:
    return Reading(device, 1, ts_ms, Measurements(**m))  # type: ignore[arg-type]


# ---------------------------------------------------------------- weight


def test_expected_weight_converts_units_and_ignores_non_mass() -> None:
    assert expected_weight_g(120_000, "t") == 120_000_000
    assert expected_weight_g(5_500, "kg") == 5_500
    assert expected_weight_g(3_000, "pcs") is None


@pytest.mark.parametrize(
    ("weight_g", "status"),
    [
        (120_000_000, None),
        (114_000_001, None),  # 4.99 % down
        (114_000_000, Status.WARNING),  # exactly 5 %
        (108_000_001, Status.WARNING),
        (108_000_000, Status.ALERT),  # exactly 10 %
        (102_000_000, Status.ALERT),  # the scenario's 15 %
        (130_000_000, None),  # heavier is not a loss
    ],
)
def test_weight_loss_thresholds(weight_g: int, status: Status | None) -> None:
    found = weight_findings(reading(weight_g=weight_g), RULES, CTX)
    assert [f.status for f in found] == ([status] if status else [])


def test_weight_rule_skips_readings_without_weight_and_lots_in_pieces() -> None:
    assert weight_findings(reading(temp_mc=20_000), RULES, CTX) == []
    pieces = LotContext(3_000, "pcs", "engines", {}, 0)
    assert weight_findings(reading(weight_g=1), RULES, pieces) == []


# ---------------------------------------------------------------- bands


def test_band_warns_outside_warn_and_alerts_outside_alert() -> None:
    limits = Limits(warn=(0, 30_000), alert=(-10_000, 45_000))
    assert band_findings(20_000, limits, "temperature", "t") == []
    assert [f.status for f in band_findings(35_000, limits, "temperature", "t")] == [Status.WARNING]
    assert [f.status for f in band_findings(50_000, limits, "temperature", "t")] == [Status.ALERT]
    assert [f.status for f in band_findings(-20_000, limits, "temperature", "t")] == [Status.ALERT]
    assert band_findings(None, limits, "temperature", "t") == []
    assert band_findings(99_000, None, "temperature", "t") == []


# ---------------------------------------------------------------- geofence


def test_distance_matches_a_known_span() -> None:
    # 0.01 degree of latitude is about 1,112 m
    assert distance_m(360_000_000, 1_200_000_000, 360_100_000, 1_200_000_000) == pytest.approx(
        1_112, rel=0.01
    )


def test_geofence_alerts_outside_the_radius_only() -> None:
    fence = Geofence(lat_e7=360_000_000, lon_e7=1_200_000_000, radius_m=500)
    inside = reading(lat_e7=360_030_000, lon_e7=1_200_000_000)  # ~333 m
    outside = reading(lat_e7=360_100_000, lon_e7=1_200_000_000)  # ~1.1 km
    assert geofence_findings(inside, fence) == []
    assert [f.status for f in geofence_findings(outside, fence)] == [Status.ALERT]
    assert geofence_findings(outside, None) == []
    assert geofence_findings(reading(temp_mc=1), fence) == []


# ---------------------------------------------------------------- door


def test_within_hours_handles_day_and_overnight_windows() -> None:
    assert within_hours(time(9), (time(8), time(20)))
    assert not within_hours(time(20), (time(8), time(20)))
    assert within_hours(time(23), (time(22), time(6)))
    assert within_hours(time(5), (time(22), time(6)))
    assert not within_hours(time(12), (time(22), time(6)))


def test_door_open_outside_hours_in_china_standard_time() -> None:
    assert door_findings(reading(cst_ms(10), door="open"), RULES) == []
    night = door_findings(reading(cst_ms(2, 30), door="open"), RULES)
    assert [(f.status, f.rule) for f in night] == [(Status.ALERT, "door_outside_hours")]
    assert "02:30:00 CST" in night[0].detail
    assert door_findings(reading(cst_ms(2, 30), door="closed"), RULES) == []
    lenient = LotRules(door_status=Status.WARNING)
    assert [f.status for f in door_findings(reading(cst_ms(23), door="open"), lenient)] == [Status.WARNING]


# ---------------------------------------------------------------- shock


def test_shock_thresholds() -> None:
    assert shock_findings(reading(shock_mg=1_999), RULES) == []
    assert [f.status for f in shock_findings(reading(shock_mg=2_000), RULES)] == [Status.WARNING]
    assert [f.status for f in shock_findings(reading(shock_mg=8_000), RULES)] == [Status.ALERT]


# ---------------------------------------------------------------- offline


def test_offline_counts_silence_from_last_reading_or_registration() -> None:
    end = 1_000_000 + 10_000
    seen = {device_id("w"): end - 2_000}
    # "t" never spoke: silent since registration, 10 s > 5 s
    found = offline_findings(seen, CTX, end, timeout_s=5)
    assert [(f.status, f.device) for f in found] == [(Status.OFFLINE, "t")]
    assert offline_findings({**seen, device_id("t"): end - 5_000}, CTX, end, timeout_s=5) == []
    assert offline_since_ms(seen, CTX, 5) == 1_000_000 + 5_000
    assert offline_since_ms({}, LotContext(1, "t", "x", {}, 0), 5) is None


# ---------------------------------------------------------------- verdict


def test_worst_ranks_alert_over_offline_over_warning() -> None:
    assert worst([]) == Status.OK
    assert worst(weight_findings(reading(weight_g=114_000_000), RULES, CTX)) == Status.WARNING
    f = offline_findings({}, CTX, 10**12, 1) + weight_findings(reading(weight_g=114_000_000), RULES, CTX)
    assert worst(f) == Status.OFFLINE
    f += door_findings(reading(cst_ms(3), door="open"), RULES)
    assert worst(f) == Status.ALERT


def test_evaluate_round_is_the_worst_of_readings_and_heartbeat() -> None:
    ts = cst_ms(3)
    readings = [reading(ts, "w", weight_g=102_000_000), reading(ts, "t", temp_mc=20_000)]
    last_seen = {device_id("w"): ts, device_id("t"): ts}
    verdict = evaluate_round(
        readings, RULES, CTX, last_seen_ms=last_seen, window_end_ms=ts + 1_000, offline_timeout_s=60
    )
    assert verdict.status == Status.ALERT
    assert verdict.reasons == ["weight_loss:w"]
    calm = evaluate_round(
        readings[1:], RULES, CTX, last_seen_ms=last_seen, window_end_ms=ts + 1_000, offline_timeout_s=60
    )
    assert calm.status == Status.OK and calm.findings == ()
    quiet = evaluate_round(
        [], RULES, CTX, last_seen_ms=last_seen, window_end_ms=ts + 61_000, offline_timeout_s=60
    )
    assert quiet.status == Status.OFFLINE
    assert quiet.reasons == ["offline:t", "offline:w"]


# ---------------------------------------------------------------- rules file


def test_rules_resolve_defaults_then_goods_then_lot(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        f"""
[defaults]
weight_loss_alert_pct = 12
door_hours = ["07:00", "19:00"]

[goods."Steel Coils"]
temp_mc = {{ warn = [-20000, 45000], alert = [-30000, 60000] }}

[lots."0x{LOT.hex()}"]
geofence = {{ lat_e7 = 360000000, lon_e7 = 1200000000, radius_m = 250 }}
offline_timeout_s = 30
door_status = "WARNING"
"""
    )
    config = load_rules(path)
    rules = config.for_lot(LOT, "steel coils")
    assert rules.weight_loss_alert_pct == 12 and rules.weight_loss_warning_pct == 5
    assert rules.door_hours == (time(7), time(19))
    assert rules.door_status == Status.WARNING
    assert rules.temp_mc == Limits(warn=(-20_000, 45_000), alert=(-30_000, 60_000))
    assert rules.geofence == Geofence(lat_e7=360_000_000, lon_e7=1_200_000_000, radius_m=250)
    assert rules.offline_timeout_s == 30
    other = config.for_lot(b"\x01" * 32, "copper")
    assert other.temp_mc is None and other.geofence is None and other.door_status == Status.ALERT


def test_rules_file_errors_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "rules.json"
    bad.write_text('{"defaults": {"no_such_rule": 1}}')
    with pytest.raises(OracleConfigError):
        load_rules(bad)
    with pytest.raises(OracleConfigError):
        load_rules(tmp_path / "missing.toml")
    assert load_rules(None) == RulesConfig()
