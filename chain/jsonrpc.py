"""A lean JSON-RPC client for hot loops: one keep-alive HTTP connection per thread, and batches.

web3.py's request path (middleware, formatters, `requests`) costs about a millisecond of CPU per
call; the API's relay and indexer poll the node many times a second, so they ask through this
instead (about 0.2 ms a call) and decode what they need themselves. Everything else keeps using
ChainClient.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from chain.errors import ChainError, ChainUnavailable

logger = logging.getLogger(__name__)


class RpcError(ChainError):
    """The node answered a call with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.rpc_code = code
        self.data = data
        self.rpc_response = {"error": {"code": code, "message": message, "data": data}}

    def refusal(self) -> ChainError:
        """The typed error behind it, as ChainClient gives it: NotPermitted, a decoded revert, or itself."""
        from chain.client import revert_from

        decoded = revert_from(self)
        return self if type(decoded) is ChainError else decoded


class JsonRpc:
    """Calls to one node at `url` (http:// or https://); safe to share between threads."""

    def __init__(
        self, url: str, *, timeout_s: float = 30.0, retries: int = 4, backoff_s: float = 0.2
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an HTTP JSON-RPC URL: {url}")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._path = parts.path or "/"
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._local = threading.local()
        self._ids = 0

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        """The result of one call; a JSON-RPC error raises RpcError."""
        answer = self._post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        return _result(answer)

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """The results of many calls in one request, in order; a failed call's slot holds its RpcError."""
        if not calls:
            return []
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        answers = self._post(payload)
        if not isinstance(answers, list):  # a node refusing the batch as a whole
            error = _error_of(answers)
            return [error] * len(calls)
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        out: list[Any] = []
        for i in range(len(calls)):
            answer = by_id.get(i)
            if answer is None:
                out.append(RpcError(-32603, "no answer in the batch"))
                continue
            try:
                out.append(_result(answer))
            except RpcError as exc:
                out.append(exc)
        return out

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self._timeout_s)
            self._local.conn = conn
        return conn

    def _post(self, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        delay = self._backoff_s
        for attempt in range(self._retries + 1):
            conn = self._connection()
            try:
                conn.request("POST", self._path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.status >= 500 or not data:
                    raise ConnectionError(f"HTTP {response.status} from the node")
                return json.loads(data)
            except (OSError, http.client.HTTPException, ConnectionError, json.JSONDecodeError) as exc:
                conn.close()
                self._local.conn = None
                if attempt == self._retries:
                    raise ChainUnavailable(f"node unreachable: {exc}") from exc
                if attempt:  # a kept-alive connection the node closed: retry at once, once
                    logger.warning("node call failed (%s), retrying in %.2fs", exc, delay)
                    time.sleep(delay)
                    delay *= 2
        raise AssertionError("unreachable")


def _error_of(answer: Any) -> RpcError:
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):
        return RpcError(-32603, f"malformed answer: {str(answer)[:200]}")
    return RpcError(int(error.get("code", -32603)), str(error.get("message", "")), error.get("data"))


def _result(answer: Any) -> Any:
    if isinstance(answer, dict) and "error" in answer:
        raise _error_of(answer)
    if not isinstance(answer, dict) or "result" not in answer:
        raise _error_of(answer)
    return answer["result"]


def quantity(value: str | int) -> int:
    """A JSON-RPC quantity ("0x1a") as an int."""
    return value if isinstance(value, int) else int(value, 16)
