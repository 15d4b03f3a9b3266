"""Errors of the IoT gateway, its brokers and the device simulator."""

from __future__ import annotations

from chain.errors import ScfError


class GatewayError(ScfError):
    """Root of the gateway's errors."""

    code = "gateway_error"


class InvalidBrokerUrl(GatewayError):
    """A broker URL that is not mqtt://[user[:password]@]host[:port]."""

    code = "invalid_broker_url"

    def __init__(self, url: str, why: str) -> None:
        super().__init__(f"invalid broker URL: {why}")
        self.why = why


class BrokerStartFailed(GatewayError):
    """A broker (embedded or Mosquitto) did not come up."""

    code = "broker_start_failed"

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"{what} did not start: {detail}")
        self.what = what
        self.detail = detail


class InvalidAnomaly(GatewayError):
    """A simulator anomaly spec that does not parse."""

    code = "invalid_anomaly"

    def __init__(self, spec: str, why: str) -> None:
        super().__init__(f"invalid anomaly {spec!r}: {why}")
        self.spec = spec
