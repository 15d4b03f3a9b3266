"""Where the broker is (`mqtt://user:password@host:port`), and the embedded one for fresh machines.

With no broker configured, `EmbeddedBroker` runs amqtt (pure Python, MQTT 3.1.1) in a thread of
this process, listening on loopback only and accepting anonymous clients: it is for `scf up` on a
machine without Mosquitto, not for production, where Mosquitto with a password file and an ACL
(`iot_gateway.mosquitto`) is the broker.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from iot_gateway.errors import BrokerStartFailed, InvalidBrokerUrl

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerAddress:
    """An MQTT broker and the credentials to log in with."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse `mqtt://[user[:password]@]host[:port]` (user and password percent-encoded)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp"):
            raise InvalidBrokerUrl(url, "scheme must be mqtt://")
        if not parts.hostname:
            raise InvalidBrokerUrl(url, "no host")
        try:
            port = parts.port or 1883
        except ValueError as exc:
            raise InvalidBrokerUrl(url, "bad port") from exc
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def with_credentials(self, username: str | None, password: str | None) -> BrokerAddress:
        """This address logging in as `username` (kept as it is when None)."""
        if username is None:
            return self
        return BrokerAddress(self.host, self.port, username, password)

    def __repr__(self) -> str:  # never print the password
        return f"BrokerAddress(host={self.host!r}, port={self.port}, username={self.username!r})"

    @property
    def url(self) -> str:
        """The URL without credentials (safe to log)."""
        return f"mqtt://{self.host}:{self.port}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    """Wait until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class EmbeddedBroker:
    """An amqtt broker on its own event loop thread; `start()`/`stop()` or use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    @property
    def address(self) -> BrokerAddress:
        return BrokerAddress(self.host, self.port)

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            # Only anonymous auth: the embedded broker listens on loopback for a single-machine network.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections."""
        from amqtt.broker import Broker

        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._broker = Broker(self._config(), loop=loop)
                loop.run_until_complete(self._broker.start())
            except BaseException as exc:  # surfaced to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._broker.shutdown())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="scf-embedded-broker", daemon=True)
        self._thread.start()
        ready.wait(timeout_s)
        if failure:
            raise BrokerStartFailed("embedded broker", str(failure[0])) from failure[0]
        if not wait_for_port(self.host, self.port, timeout_s):
            self.stop()
            raise BrokerStartFailed("embedded broker", f"nothing listens on {self.host}:{self.port}")
        logger.info("embedded MQTT broker listening on %s:%s", self.host, self.port)
        return self

    def stop(self) -> None:
        """Shut the broker down (its clients see the connection drop)."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=15)
        self._thread = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
