"""The rules that turn a round of readings into a lot status: pure functions, no I/O.

Each rule yields findings; a round's status is the worst finding (ALERT > OFFLINE > WARNING > OK).
Every node of a network must run the same rules file, or their reports will not agree.

Rules file (TOML or JSON), every section optional:

    [defaults]                       # for every lot
    weight_loss_warning_pct = 5      # vs the lot's registered quantity
    weight_loss_alert_pct = 10
    door_hours = ["08:00", "20:00"]  # China Standard Time; door open outside -> door_status
    door_status = "ALERT"
    shock_warning_mg = 2000
    shock_alert_mg = 8000

    [goods."steel coils"]            # by the goods text of LotRegistered, case-insensitive
    temp_mc = { warn = [-20000, 45000], alert = [-30000, 60000] }
    humidity_pm = { warn = [0, 650], alert = [0, 850] }

    [lots."0x<lot id>"]              # overrides for one lot
    geofence = { lat_e7 = 360671234, lon_e7 = 1203823456, radius_m = 500 }
    offline_timeout_s = 300
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from chain.readings import Reading
from oracle.errors import OracleConfigError

CST = timezone(timedelta(hours=8), "CST")
EARTH_RADIUS_M = 6_371_008.8
# grams per unit, for comparing a weight sensor with the registered quantity
UNIT_GRAMS = {"t": 1_000_000, "tonne": 1_000_000, "kg": 1_000, "g": 1}


class Status(IntEnum):
    """`IGoodsOracle.Status`, with the chain's numbering."""

    UNKNOWN = 0
    OK = 1
    WARNING = 2
    ALERT = 3
    OFFLINE = 4


# Worse statuses rank higher: an ALERT (goods at risk) outranks OFFLINE (we cannot tell).
SEVERITY = {Status.OK: 0, Status.WARNING: 1, Status.OFFLINE: 2, Status.ALERT: 3}


@dataclass(frozen=True)
class Finding:
    """One rule that fired: on which reading (or device, for offline), and why."""

    status: Status
    rule: str
    device: str
    detail: str


@dataclass(frozen=True)
class Verdict:
    """A round's status and the findings behind it."""

    status: Status
    findings: tuple[Finding, ...]

    @property
    def reasons(self) -> list[str]:
        return sorted({f"{f.rule}:{f.device}" for f in self.findings})


@dataclass(frozen=True)
class LotContext:
    """What the chain says about a lot: registered quantity and unit, devices, registration time."""

    quantity_milli: int
    unit: str
    goods: str
    devices: Mapping[bytes, str]  # device id -> name ("" while no reading named it)
    registered_at_ms: int


# ------------------------------------------------------------------ configuration


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Model):
    """Two bands: outside `warn` is a WARNING, outside `alert` an ALERT."""

    warn: tuple[int, int] | None = None
    alert: tuple[int, int] | None = None


class GoodsRules(_Model):
    temp_mc: Limits | None = None
    humidity_pm: Limits | None = None


class Geofence(_Model):
    lat_e7: int
    lon_e7: int
    radius_m: float


class LotOverrides(_Model):
    weight_loss_warning_pct: float | None = None
    weight_loss_alert_pct: float | None = None
    door_hours: tuple[time, time] | None = None
    door_status: Literal["WARNING", "ALERT"] | None = None
    shock_warning_mg: int | None = None
    shock_alert_mg: int | None = None
    geofence: Geofence | None = None
    offline_timeout_s: float | None = None
    temp_mc: Limits | None = None
    humidity_pm: Limits | None = None


@dataclass(frozen=True)
class LotRules:
    """The rules in force for one lot, every default resolved."""

    temp_mc: Limits | None = None
    humidity_pm: Limits | None = None
    geofence: Geofence | None = None
    weight_loss_warning_pct: float = 5.0
    weight_loss_alert_pct: float = 10.0
    door_hours: tuple[time, time] | None = (time(8, 0), time(20, 0))
    door_status: Status = Status.ALERT
    shock_warning_mg: int | None = 2_000
    shock_alert_mg: int | None = 8_000
    offline_timeout_s: float | None = None  # None: the node's setting


class RulesConfig(_Model):
    """A whole rules file."""

    defaults: LotOverrides = LotOverrides()
    goods: dict[str, GoodsRules] = {}
    lots: dict[str, LotOverrides] = {}

    def for_lot(self, lot_id: bytes, goods: str) -> LotRules:
        """The rules of `lot_id`, whose goods are `goods`: defaults, then goods type, then the lot."""
        merged: dict[str, Any] = {}
        by_goods = {name.strip().lower(): rules for name, rules in self.goods.items()}
        layers: list[BaseModel] = [self.defaults]
        if (g := by_goods.get(goods.strip().lower())) is not None:
            layers.append(g)
        lots = {key.lower().removeprefix("0x"): value for key, value in self.lots.items()}
        if (lot := lots.get(lot_id.hex())) is not None:
            layers.append(lot)
        for layer in layers:
            merged.update({k: v for k, v in layer.model_dump(exclude_none=True).items()})
            for key in ("geofence", "temp_mc", "humidity_pm"):  # keep models, not dicts
                if getattr(layer, key, None) is not None:
                    merged[key] = getattr(layer, key)
        if "door_status" in merged:
            merged["door_status"] = Status[merged["door_status"]]
        return LotRules(**merged)


def load_rules(path: Path | None) -> RulesConfig:
    """Read a rules file (TOML or JSON by suffix); no file means the defaults."""
    if path is None:
        return RulesConfig()
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        return RulesConfig.model_validate(raw)
    except (OSError, ValueError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise OracleConfigError(f"rules file {path}: {exc}") from exc


# ------------------------------------------------------------------ single rules


def expected_weight_g(quantity_milli: int, unit: str) -> int | None:
    """The registered quantity in grams, or None when the unit is not a mass."""
    grams = UNIT_GRAMS.get(unit.strip().lower())
    return None if grams is None else quantity_milli * grams // 1_000


def weight_findings(reading: Reading, rules: LotRules, ctx: LotContext) -> list[Finding]:
    """Loss against the registered quantity above the warning / alert thresholds."""
    weight = reading.m.weight_g
    expected = expected_weight_g(ctx.quantity_milli, ctx.unit)
    if weight is None or not expected:
        return []
    loss_ppm = (expected - weight) * 1_000_000 // expected
    for pct, status in (
        (rules.weight_loss_alert_pct, Status.ALERT),
        (rules.weight_loss_warning_pct, Status.WARNING),
    ):
        if loss_ppm >= round(pct * 10_000):
            detail = f"weight {weight} g is {loss_ppm / 10_000:.2f}% below {expected} g"
            return [Finding(status, "weight_loss", reading.device, detail)]
    return []


def band_findings(value: int | None, limits: Limits | None, rule: str, device: str) -> list[Finding]:
    """A value outside the alert band (ALERT) or the warning band (WARNING)."""
    if value is None or limits is None:
        return []
    for band, status in ((limits.alert, Status.ALERT), (limits.warn, Status.WARNING)):
        if band is not None and not band[0] <= value <= band[1]:
            return [Finding(status, rule, device, f"{value} outside [{band[0]}, {band[1]}]")]
    return []


def distance_m(lat1_e7: int, lon1_e7: int, lat2_e7: int, lon2_e7: int) -> float:
    """Great-circle distance in metres between two points given in 1e-7 degrees."""
    p1, p2 = math.radians(lat1_e7 / 1e7), math.radians(lat2_e7 / 1e7)
    dp, dl = p2 - p1, math.radians((lon2_e7 - lon1_e7) / 1e7)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def geofence_findings(reading: Reading, fence: Geofence | None) -> list[Finding]:
    """A position outside the lot's fence: the goods moved."""
    m = reading.m
    if fence is None or m.lat_e7 is None or m.lon_e7 is None:
        return []
    distance = distance_m(fence.lat_e7, fence.lon_e7, m.lat_e7, m.lon_e7)
    if distance <= fence.radius_m:
        return []
    return [Finding(Status.ALERT, "geofence", reading.device, f"{distance:.0f} m from the centre")]


def within_hours(moment: time, hours: tuple[time, time]) -> bool:
    """Whether `moment` lies in [start, end), wrapping past midnight when end <= start."""
    start, end = hours
    return start <= moment < end if start < end else moment >= start or moment < end


def cst_time(ts_ms: int) -> time:
    """Wall-clock time in China Standard Time of a millisecond timestamp."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(CST).time()


def door_findings(reading: Reading, rules: LotRules) -> list[Finding]:
    """The door open outside working hours."""
    if reading.m.door != "open" or rules.door_hours is None:
        return []
    at = cst_time(reading.ts_ms)
    if within_hours(at, rules.door_hours):
        return []
    return [Finding(rules.door_status, "door_outside_hours", reading.device, f"open at {at:%H:%M:%S} CST")]


def shock_findings(reading: Reading, rules: LotRules) -> list[Finding]:
    """A shock above the warning / alert thresholds."""
    shock = reading.m.shock_mg
    if shock is None:
        return []
    for limit, status in ((rules.shock_alert_mg, Status.ALERT), (rules.shock_warning_mg, Status.WARNING)):
        if limit is not None and shock >= limit:
            return [Finding(status, "shock", reading.device, f"{shock} mg >= {limit} mg")]
    return []


def reading_findings(reading: Reading, rules: LotRules, ctx: LotContext) -> list[Finding]:
    """Every rule of one reading."""
    return [
        *band_findings(reading.m.temp_mc, rules.temp_mc, "temperature", reading.device),
        *band_findings(reading.m.humidity_pm, rules.humidity_pm, "humidity", reading.device),
        *geofence_findings(reading, rules.geofence),
        *weight_findings(reading, rules, ctx),
        *door_findings(reading, rules),
        *shock_findings(reading, rules),
    ]


def offline_findings(
    last_seen_ms: Mapping[bytes, int], ctx: LotContext, window_end_ms: int, timeout_s: float
) -> list[Finding]:
    """Devices of the lot not heard from for more than `timeout_s` at the end of the window.

    A device never heard from counts from the lot's registration.
    """
    findings = []
    for device_id, name in sorted(ctx.devices.items()):
        seen = last_seen_ms.get(device_id, ctx.registered_at_ms)
        silent_ms = window_end_ms - seen
        if silent_ms > timeout_s * 1000:
            label = name or "0x" + device_id.hex()
            findings.append(Finding(Status.OFFLINE, "offline", label, f"silent for {silent_ms / 1000:.1f} s"))
    return findings


def offline_since_ms(last_seen_ms: Mapping[bytes, int], ctx: LotContext, timeout_s: float) -> int | None:
    """When the first device of the lot goes offline if nothing more arrives (None: no devices)."""
    if not ctx.devices:
        return None
    first = min(last_seen_ms.get(d, ctx.registered_at_ms) for d in ctx.devices)
    return first + int(timeout_s * 1000)


def worst(findings: Iterable[Finding]) -> Status:
    """The worst status among `findings`; OK when there are none."""
    return max((f.status for f in findings), key=SEVERITY.__getitem__, default=Status.OK)


def evaluate_round(
    readings: Sequence[Reading],
    rules: LotRules,
    ctx: LotContext,
    *,
    last_seen_ms: Mapping[bytes, int],
    window_end_ms: int,
    offline_timeout_s: float,
) -> Verdict:
    """The status of one round of one lot: the worst of every reading's rules and of the heartbeat."""
    findings = [f for r in readings for f in reading_findings(r, rules, ctx)]
    timeout = rules.offline_timeout_s if rules.offline_timeout_s is not None else offline_timeout_s
    findings += offline_findings(last_seen_ms, ctx, window_end_ms, timeout)
    return Verdict(worst(findings), tuple(findings))
