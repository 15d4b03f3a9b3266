"""Run the API as processes: request servers sharing one port, and one worker process.

One Python process has one GIL: a process that serves requests *and* relays, indexes and fans
out notifications makes each wait for the others. `scf api` therefore starts, after migrating the
database once:

- a worker process: the outbox relay, the indexer and the webhook notifier; the relay and the
  indexer run only while they hold their database lease (api/lease.py), so a second worker
  process (another machine, a restart that overlaps) stands by instead of signing too;
- N request processes on one listening socket (the kernel spreads connections), which serve
  HTTP and never sign: writes reach the relay through the outbox table.

Children are new interpreters (`python -m api.serve worker|http`), not forks: they share no
threads, locks or connections with the parent. They read their settings as JSON on stdin, never
through the environment or the command line, so secrets stay out of /proc/*/environ and `ps`;
the request processes inherit the listening socket. A child that dies is started again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import requests
from pydantic import SecretStr

from api.ratelimit import SharedRateLimiter
from api.settings import ApiSettings

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def run_workers(settings: ApiSettings, stop: threading.Event) -> None:
    """Run the relay, the indexer and the webhook notifier in this process until `stop` is set."""
    from api.runtime import Runtime

    runtime = Runtime.build(settings, prepare=settings.prepare_on_start)
    runtime.start()
    try:
        stop.wait()
    finally:
        runtime.stop()


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def _settings_json(settings: ApiSettings) -> bytes:
    """The settings with their secrets in clear, for a child's stdin only."""
    data = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in settings.model_dump().items()
    }
    return json.dumps(data, default=str).encode()


class ApiProcesses:
    """The API's processes on `host:port` (0: any free port): `with ApiProcesses(...) as api: api.url`."""

    def __init__(
        self,
        settings: ApiSettings,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        processes: int | None = None,
        workers: bool = True,
        serve_requests: bool = True,
        log_file: Path | None = None,
    ) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.processes = processes or settings.request_processes
        self.workers = workers
        self.serve_requests = serve_requests
        self.log_file = log_file
        self._socks: list[socket.socket] = []  # one listening socket per request process
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._socks, "no request processes"
        bound = self._socks[0].getsockname()[1]
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://[{shown}]:{bound}" if ":" in shown else f"http://{shown}:{bound}"

    def __enter__(self) -> ApiProcesses:
        from api.runtime import Runtime

        if self.settings.prepare_on_start:
            Runtime.prepare(self.settings)  # once, before any child opens the database
        if self.serve_requests and self.processes > 1 and self.settings.rate_limit_file is None:
            # One rate per member across the request processes, not one per process.
            shared = self.settings.data_dir / "ratelimit.buckets"
            SharedRateLimiter.reset(shared)
            self.settings = self.settings.model_copy(update={"rate_limit_file": shared})
        try:
            if self.workers:
                self._start("api-workers")
            if self.serve_requests:
                self._socks = _listen(self.host, self.port, self.processes)
                for i in range(self.processes):
                    self._start(f"api-http-{i}")
                self._wait_serving()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self._watcher = threading.Thread(target=self._watch, name="api-supervisor", daemon=True)
        self._watcher.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        with self._lock:
            children = list(self._children.items())
            self._children.clear()
        for _, child in children:
            if child.poll() is None:
                child.terminate()  # SIGTERM: uvicorn drains, the workers release their leases
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for name, child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %.0f s: killing it", name, STOP_TIMEOUT_S)
                child.kill()
                child.wait(5)
        for sock in self._socks:
            sock.close()

    def pids(self) -> dict[str, int]:
        """The children's process ids, by name (api-workers, api-http-0, ...)."""
        with self._lock:
            return {name: child.pid for name, child in self._children.items()}

    def _start(self, name: str) -> None:
        role = "worker" if name == "api-workers" else "http"
        settings = self.settings.model_copy(
            update={"run_workers": role == "worker", "prepare_on_start": False}
        )
        args = [sys.executable, "-m", "api.serve", role, "--name", name, "--parent", str(os.getpid())]
        args += ["--log-level", str(logging.getLogger().getEffectiveLevel())]
        if self.log_file is not None:
            args += ["--log-file", str(self.log_file)]
        pass_fds: tuple[int, ...] = ()
        if role == "http":
            sock = self._socks[int(name.rsplit("-", 1)[1])]
            args += ["--fd", str(sock.fileno())]
            pass_fds = (sock.fileno(),)
        child = subprocess.Popen(args, stdin=subprocess.PIPE, pass_fds=pass_fds, cwd=os.getcwd())
        assert child.stdin is not None
        child.stdin.write(_settings_json(settings))
        child.stdin.close()
        with self._lock:
            self._children[name] = child

    def _wait_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            dead = [name for name, child in self._children.items() if child.poll() is not None]
            if dead:
                raise RuntimeError(f"API process {', '.join(dead)} exited at start: see its log")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the API did not answer on {self.url} within {START_TIMEOUT_S:.0f} s")

    def _watch(self) -> None:
        """Start again any child that died (a crash; stopping goes through __exit__)."""
        while not self._stopping.wait(1.0):
            with self._lock:
                dead = [(name, c.returncode) for name, c in self._children.items() if c.poll() is not None]
            for name, code in dead:
                if self._stopping.is_set():
                    return
                if code == 0:  # asked to stop (a Ctrl-C reaches the whole process group): not a crash
                    with self._lock:
                        self._children.pop(name, None)
                    continue
                logger.error("%s exited with %s: starting it again", name, code)
                self._start(name)


def _listen(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets listening on one port (SO_REUSEPORT): the kernel spreads new connections
    over them evenly, where one shared socket lets whichever process wakes first take a burst."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    reuse_port = count > 1 and hasattr(socket, "SO_REUSEPORT")
    socks: list[socket.socket] = []
    try:
        for _ in range(count if reuse_port else 1):
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, socks[0].getsockname()[1] if len(socks) > 1 else port))
            sock.listen(2048)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks * (count // len(socks))  # without SO_REUSEPORT: the one socket, shared


def serve(settings: ApiSettings, *, host: str, port: int, **kwargs: Any) -> None:
    """Run the API's processes until SIGINT or SIGTERM."""
    stop = _stop_on_signals()
    with ApiProcesses(settings, host=host, port=port, **kwargs) as api:
        if api.serve_requests:
            logger.info("API serving on %s with %d request processes", api.url, api.processes)
        if api.workers:
            logger.info("API workers (relay, indexer, notifier) running")
        stop.wait()


def _stop_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """Stop this child (SIGTERM to itself: a clean stop) once its parent is gone, however it went
    (even before this runs): a worker left behind by a killed `scf api` would go on holding its lease."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        logger.warning("parent process %s is gone: stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child(argv: list[str]) -> None:
    """A child process: `worker` (relay, indexer, notifier) or `http` (requests on an inherited socket)."""
    parser = argparse.ArgumentParser(prog="python -m api.serve")
    parser.add_argument("role", choices=["worker", "http"])
    parser.add_argument("--name", default="api")
    parser.add_argument("--fd", type=int)
    parser.add_argument("--parent", type=int, help="the supervisor's pid: stop when it is gone")
    parser.add_argument("--log-level", type=int, default=logging.INFO)
    parser.add_argument("--log-file", type=Path)
    args = parser.parse_args(argv)
    handler: logging.Handler = (
        logging.FileHandler(args.log_file, encoding="utf-8") if args.log_file else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {args.name} %(name)s: %(message)s"))
    logging.basicConfig(level=args.log_level, handlers=[handler])
    settings = ApiSettings.model_validate(json.loads(sys.stdin.buffer.read()))
    _stop_with_parent(args.parent or os.getppid())
    if args.role == "worker":
        run_workers(settings, _stop_on_signals())
        return
    import uvicorn

    from api.app import create_app

    sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config(
        create_app(settings),
        log_config=None,
        log_level=logging.WARNING,
        access_log=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    _child(sys.argv[1:])
