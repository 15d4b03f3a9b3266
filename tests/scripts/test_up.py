"""`scf up` as a user runs it: a subprocess on free ports with a fresh data dir (embedded node,
embedded broker, SQLite), probed from outside, stopped with SIGINT, and started again on the same
data dir. Plus the settings' precedence (flags > env > file > defaults), in-process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from pydantic import ValidationError

from scripts.config import load_settings
from scripts.probes import Service, probe

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
EXPECTED = {"node", "mqtt", "gateway", "oracle-0", "oracle-1", "oracle-2", "api"}
METRICS = (
    "scf_api_requests_total",
    "scf_api_request_duration_seconds_bucket",
    "scf_api_relay_outbox_depth",
    "scf_api_relay_transactions_total",
    "scf_api_indexer_head_block",
    "scf_api_indexer_lag_blocks",
    "scf_api_notifications_total",
)

pytestmark = pytest.mark.xdist_group("scf_up")  # one network, tests in file order


@dataclass
class Up:
    """A running `scf up` process and what it printed."""

    process: subprocess.Popen[str]
    data_dir: Path
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, data_dir: Path, log: Path) -> Up:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCF_")}
        args = ["--node-port", "0", "--mqtt-port", "0", "--gateway-port", "0", "--oracle-port", "0"]
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", "up", "--data-dir", str(data_dir), *args, "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log.open("a"),
            text=True,
            start_new_session=True,  # its own process group, so stop() can signal it as a terminal would
        )
        up = cls(process, data_dir)
        threading.Thread(target=up._read, daemon=True).start()
        if not up.ready.wait(START_TIMEOUT_S):
            process.kill()
            pytest.fail(f"scf up not ready in {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
        return up

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.strip() == "ready":
                self.ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def services(self) -> dict[str, str]:
        record = json.loads((self.data_dir / "endpoints.json").read_text())
        return {s["name"]: s["url"] for s in record["services"]}

    @property
    def api(self) -> str:
        return self.services["api"]

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Signal the whole process group (a terminal's Ctrl-C does); the exit code."""
        os.killpg(self.process.pid, sig)
        return self.process.wait(STOP_TIMEOUT_S)


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _credentials(data_dir: Path) -> dict[str, dict[str, object]]:
    body = json.loads((data_dir / "demo-organisations.json").read_text())
    assert body["complete"] is True
    return body["organisations"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("up") / "data"


@pytest.fixture(scope="module")
def up(data_dir: Path) -> Iterator[Up]:
    handle = Up.start(data_dir, data_dir.parent / "first.log")
    yield handle
    if handle.process.poll() is None:
        handle.process.kill()
        handle.process.wait()


def test_up_every_service_is_healthy_and_ready(up: Up) -> None:
    services = up.services
    assert set(services) == EXPECTED
    for name, url in services.items():
        kind = "jsonrpc" if name == "node" else "mqtt" if name == "mqtt" else "http"
        assert probe(Service(name, kind, url)).ready, name
        if kind == "http":
            assert requests.get(f"{url}/health", timeout=5).status_code == 200, name
            assert requests.get(f"{url}/ready", timeout=5).status_code == 200, name
    gateway = requests.get(f"{services['gateway']}/ready", timeout=5).json()
    assert gateway["connected"] is True and gateway["queue_depth"] == 0
    for name, url in services.items():
        assert url in up.output, f"{name} endpoint not printed"
    assert f"{up.api}/docs" in up.output


def test_status_reports_every_service_ready(up: Up) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "status", "--data-dir", str(up.data_dir), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["ready"] is True
    assert {s["name"]: s["state"] for s in body["services"]} == dict.fromkeys(EXPECTED, "ready")


def test_up_demo_credentials_work_and_are_private(up: Up) -> None:
    orgs = _credentials(up.data_dir)
    assert {o["name"] for o in orgs.values()} == {
        "Huaxin Auto",
        "Delta Brakes",
        "Eastern Steel",
        "Bank A",
        "Bank B",
        "North Logistics",
        "CPA Audit",
    }
    delta = orgs["delta"]
    assert str(delta["api_key"]) in up.output  # printed once, at the first start
    me = requests.get(f"{up.api}/me", headers={"Authorization": f"Bearer {delta['api_key']}"}, timeout=5)
    assert me.status_code == 200
    assert me.json()["organisation"]["name"] == "Delta Brakes"
    assert me.json()["organisation"]["status"] == "active"
    secrets = ["demo-organisations.json", "operator.key", "master.key", "operator.token"]
    secrets += [f"oracles/oracle-{i}.key" for i in range(3)]
    for name in secrets:
        assert stat.S_IMODE((up.data_dir / name).stat().st_mode) == 0o600, name


def test_up_metrics_after_requests(up: Up) -> None:
    key = _credentials(up.data_dir)["bank-a"]["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    org_id = _credentials(up.data_dir)["delta"]["org_id"]
    assert requests.get(f"{up.api}/organisations/{org_id}", headers=auth, timeout=5).status_code == 200
    assert requests.get(f"{up.api}/no/such/path/12345", timeout=5).status_code == 404
    response = requests.get(f"{up.api}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in METRICS:
        assert f"\n{name}" in text, name
    assert 'route="/organisations/{org_id}",status="200"' in text
    assert 'route="unmatched",status="404"' in text
    assert f'/organisations/{org_id}"' not in text and "12345" not in text  # templates, never raw paths
    assert 'scf_api_relay_transactions_total{outcome="failed"} 0.0' in text
    gateway_metrics = requests.get(f"{up.services['gateway']}/metrics", timeout=5).text
    assert "scf_gateway_queue_depth" in gateway_metrics


def _readme_session() -> str:
    """The README's role-by-role curl session, as a user would paste it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("```bash\nAPI=") + len("```bash\n")
    return readme[start : readme.index("```", start)]


def test_readme_curl_session_works_against_up(up: Up, tmp_path: Path) -> None:
    script = _readme_session()
    assert "API=http://127.0.0.1:8000" in script and ".data/" in script
    script = script.replace("http://127.0.0.1:8000", up.api).replace(".data/", f"{up.data_dir}/")
    # -f: an HTTP error fails the session; every answer is kept to be looked at
    prelude = 'set -euo pipefail\ncurl() { command curl -f "$@"; echo; }\n'
    result = subprocess.run(
        ["bash", "-c", prelude + script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    repaid = next(a for a in answers if a.get("operation", {}).get("function") == "repay")
    assert repaid["operation"]["status"] == "confirmed"
    assert answers[-1]["consistent"] is True and answers[-1]["invoices_checked"] >= 1


def test_up_sigint_stops_cleanly_and_a_restart_resumes(up: Up) -> None:
    # One test, so no scheduler can run the restart before the stop.
    services = up.services
    assert up.stop(signal.SIGINT) == 0
    still = [name for name, url in services.items() if _listening(url)]
    assert still == []
    assert json.loads((up.data_dir / "endpoints.json").read_text())["state"] == "stopped"

    manifest = (up.data_dir / "deployment.json").read_text()
    keys = [(up.data_dir / f"oracles/oracle-{i}.key").read_text() for i in range(3)]
    before = _credentials(up.data_dir)
    again = Up.start(up.data_dir, up.data_dir.parent / "second.log")
    try:
        assert (up.data_dir / "deployment.json").read_text() == manifest
        assert [(up.data_dir / f"oracles/oracle-{i}.key").read_text() for i in range(3)] == keys
        assert _credentials(up.data_dir) == before
        assert str(before["delta"]["api_key"]) not in again.output  # shown once only
        log = (up.data_dir.parent / "second.log").read_text()
        assert "contracts   reused" in log and "deployed" not in log
        auth = {"Authorization": f"Bearer {before['cpa']['api_key']}"}
        orgs = requests.get(
            f"{again.api}/organisations", headers=auth, params={"limit": 200}, timeout=5
        ).json()
        names = [o["name"] for o in orgs["data"]]
        assert sorted(names) == sorted({*names})  # nobody admitted twice
        assert {o["name"] for o in before.values()} <= set(names)
        assert requests.get(f"{again.api}/ready", timeout=5).status_code == 200
    finally:
        code = again.stop(signal.SIGTERM)
    assert code == 0
    assert not any(_listening(url) for url in again.services.values())


# ---------------------------------------------------------------------------- settings


def test_settings_precedence_flags_env_file_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SCF_"):
            monkeypatch.delenv(name)
    (tmp_path / "scfnet.toml").write_text("api_port = 9001\nnode_port = 9002\noracles = 5\n")
    monkeypatch.setenv("SCF_API_PORT", "9101")
    settings = load_settings({"data_dir": tmp_path, "api_port": None, "node_port": 9302})
    assert settings.node_port == 9302  # flag over env and file
    assert settings.api_port == 9101  # env over file
    assert settings.oracles == 5  # file over default
    assert settings.mqtt_port == 1883  # default
    assert settings.database_url == f"sqlite:///{tmp_path / 'api.db'}"


def test_settings_explicit_config_file_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SCF_"):
            monkeypatch.delenv(name)
    config = tmp_path / "elsewhere.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "d"}"\nmqtt_url = "mqtt://127.0.0.1:1883"\ndemo_orgs = false\n'
    )
    settings = load_settings({}, config)
    assert settings.data_dir == tmp_path / "d" and settings.mqtt_url and settings.demo_orgs is False
    config.write_text("api_prot = 1\n")  # a typo is an error, not a silent default
    with pytest.raises(ValidationError, match="api_prot"):
        load_settings({}, config)
    with pytest.raises(ValidationError, match="oracles"):
        load_settings({"oracles": 2, "data_dir": tmp_path})
    with pytest.raises(FileNotFoundError):
        load_settings({}, tmp_path / "missing.toml")
