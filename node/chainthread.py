"""The chain thread: the one thread that touches py-evm, serving requests and building blocks.

py-evm is not thread-safe, so every chain operation runs here, one at a time: requests
queued by the server, and, with interval mining, background work (building the next block a
few transactions at a time) between them. While both have work they take turns, so a request
waits at most for one short step, and a stream of requests cannot starve block building,
whose transactions their clients are waiting for. The background work runs on this thread
directly: no event-loop round trip per step.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

logger = logging.getLogger(__name__)

_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class ChainThread:
    """A single worker thread for requests, alternating with an optional background step."""

    def __init__(self, background: Callable[[], bool] | None = None, name: str = "scf-chain") -> None:
        # `background()` does a short piece of work and returns True if there is more.
        self._background = background
        self._pending_background = False  # there may be background work: after any request
        self._requests: deque[_Job] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Queue `fn(*args)`; return a future of its result."""
        future: Future[Any] = Future()
        with self._wake:
            if self._stopping:
                raise RuntimeError("the chain thread is stopped")
            self._requests.append((future, fn, args))
            self._wake.notify()
        return future

    def shutdown(self) -> None:
        """Run the queued requests, then stop the thread."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()

    def _work(self) -> None:
        background_turn = False
        while True:
            with self._wake:
                while not self._requests and not self._stopping and not self._pending_background:
                    self._wake.wait()
                run_background = self._pending_background and not self._stopping
                if self._requests and not (run_background and background_turn):
                    job: _Job | None = self._requests.popleft()
                    if self._background is not None:
                        self._pending_background = True  # e.g. an admitted transaction to build in
                elif run_background:
                    job = None
                else:
                    return  # stopping, nothing queued
            background_turn = job is not None
            if job is None:
                self._step()
            else:
                self._run(job)

    def _step(self) -> None:
        assert self._background is not None
        try:
            more = self._background()
        except Exception:
            logger.exception("background chain work failed")
            more = False
        if not more:
            with self._wake:
                # Anything submitted while the step ran set the flag again after its run.
                self._pending_background = False

    @staticmethod
    def _run(job: _Job) -> None:
        future, fn, args = job
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = fn(*args)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
