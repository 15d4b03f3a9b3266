"""The gateway's counters: a dict for code and tests, Prometheus text for scraping, both over HTTP."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DROP_REASONS = (
    "malformed",
    "too_large",
    "out_of_range",
    "bad_signature",
    "wrong_topic",
    "unknown_device",
    "replay",
)


class GatewayMetrics:
    """Thread-safe counters of one gateway process (reset when it restarts, as Prometheus expects)."""

    def __init__(self, gateway_id: str) -> None:
        self.gateway_id = gateway_id
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter({reason: 0 for reason in DROP_REASONS})
        self._queue_depth = 0
        self._connected = False

    def add(self, name: str, n: int = 1) -> None:
        """Add `n` to counter `name` (received, accepted, republished, chain_errors)."""
        with self._lock:
            self._counts[name] += n

    def dropped(self, reason: str) -> None:
        """Count one reading dropped for `reason`."""
        with self._lock:
            self._dropped[reason] += 1

    def set_queue_depth(self, depth: int) -> None:
        with self._lock:
            self._queue_depth = depth

    def set_connected(self, connected: bool) -> None:
        with self._lock:
            self._connected = connected

    def as_dict(self) -> dict[str, object]:
        """A snapshot: received, accepted, republished, chain_errors, dropped{reason}, queue_depth."""
        with self._lock:
            return {
                "received": self._counts["received"],
                "accepted": self._counts["accepted"],
                "republished": self._counts["republished"],
                "chain_errors": self._counts["chain_errors"],
                "dropped": dict(self._dropped),
                "dropped_total": sum(self._dropped.values()),
                "queue_depth": self._queue_depth,
                "connected": self._connected,
            }

    def prometheus(self) -> str:
        """The snapshot in the Prometheus text exposition format."""
        snap = self.as_dict()
        label = f'gateway="{self.gateway_id}"'
        lines: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: list[tuple[str, object]]) -> None:
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{name}{{{labels}}} {int(value)}" for labels, value in samples)  # type: ignore[call-overload]

        metric(
            "scf_gateway_readings_received_total",
            "counter",
            "Telemetry messages received.",
            [(label, snap["received"])],
        )
        metric(
            "scf_gateway_readings_accepted_total",
            "counter",
            "Readings verified and queued.",
            [(label, snap["accepted"])],
        )
        metric(
            "scf_gateway_readings_republished_total",
            "counter",
            "Verified readings acknowledged by the broker.",
            [(label, snap["republished"])],
        )
        dropped = snap["dropped"]
        assert isinstance(dropped, dict)
        metric(
            "scf_gateway_readings_dropped_total",
            "counter",
            "Readings dropped, by reason.",
            [(f'{label},reason="{reason}"', count) for reason, count in sorted(dropped.items())],
        )
        metric(
            "scf_gateway_chain_errors_total",
            "counter",
            "Failed device-key lookups on chain.",
            [(label, snap["chain_errors"])],
        )
        metric(
            "scf_gateway_queue_depth",
            "gauge",
            "Verified readings not yet acknowledged by the broker.",
            [(label, snap["queue_depth"])],
        )
        metric(
            "scf_gateway_connected", "gauge", "1 while connected to the broker.", [(label, snap["connected"])]
        )
        return "\n".join(lines) + "\n"


class MetricsServer:
    """The gateway's HTTP face, on a thread of its own.

    `GET /metrics` (Prometheus text), `GET /status` and `GET /health` (the JSON snapshot), and
    `GET /ready`: 200 while connected to the broker, else 503.
    """

    def __init__(self, metrics: GatewayMetrics, host: str, port: int) -> None:
        snapshot = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
                path, status = self.path.split("?", 1)[0], 200
                if path == "/metrics":
                    body, kind = snapshot.prometheus().encode(), "text/plain; version=0.0.4"
                elif path in ("/status", "/health", "/ready"):
                    state = snapshot.as_dict()
                    if path == "/health":
                        state = {"status": "ok", **state}
                    elif path == "/ready":
                        ready = bool(state["connected"])
                        state = {"status": "ready" if ready else "not_ready", **state}
                        status = 200 if ready else 503
                    body, kind = json.dumps(state).encode(), "application/json"
                else:
                    self.send_error(404)
                    return
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:  # scrapes are not worth a log line
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="scf-gateway-metrics", daemon=True
        )

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
