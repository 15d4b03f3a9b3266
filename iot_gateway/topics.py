"""The MQTT topics of the IoT path, in one place (the oracle subscribes to `verified/#`)."""

from __future__ import annotations

TELEMETRY_FILTER = "devices/+/telemetry"
VERIFIED_FILTER = "verified/#"


def telemetry_topic(device: str) -> str:
    """Where device `device` publishes its signed readings."""
    return f"devices/{device}/telemetry"


def device_of_telemetry(topic: str) -> str | None:
    """The device a telemetry topic names, or None if `topic` is not one."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "devices" or parts[2] != "telemetry" or not parts[1]:
        return None
    return parts[1]


def verified_topic(lot_id: bytes) -> str:
    """Where the gateway republishes verified readings of a lot, in batches
    (`chain.readings.encode_batch`): `verified/{lot id, 64 lowercase hex}`."""
    return f"verified/{lot_id.hex()}"


def status_topic(gateway_id: str) -> str:
    """The gateway's retained status ("online", or "offline" from its last will or a clean stop)."""
    return f"gateway/{gateway_id}/status"
