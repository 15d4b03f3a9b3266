"""`scf status`: probe each service recorded in a data dir's endpoints.json and print its health."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from scripts.datadir import DataDir
from scripts.probes import Health, Service, probe_all

_SHOWN = ("chain_id", "head_block", "chain_head", "indexer_lag_blocks", "queue_depth", "broker", "error")


def _detail(health: Health) -> str:
    d = health.detail
    parts = [f"{key}={d[key]}" for key in _SHOWN if key in d]
    if health.service.name == "gateway" and "connected" in d:
        parts.insert(0, f"connected={d['connected']}")
    if "database" in d:
        parts.insert(0, f"database={d['database']} chain={d.get('chain')}")
    return " ".join(parts)


def report(data_dir: Path, *, as_json: bool = False) -> int:
    """Print the health of every recorded service; 0 if all are ready, 1 otherwise (3: nothing recorded)."""
    data = DataDir(data_dir)
    record = data.read_endpoints()
    if record is None:
        typer.echo(f"no network recorded in {data.root} (start one with `scf up`)", err=True)
        return 3
    services = [Service(s["name"], s["kind"], s["url"]) for s in record.get("services", [])]
    results = probe_all(services)
    all_ready = bool(results) and all(h.ready for h in results)
    if as_json:
        body: dict[str, Any] = {
            "data_dir": str(data.root),
            "recorded_state": record.get("state"),
            "pid": record.get("pid"),
            "ready": all_ready,
            "services": [
                {**h.service.as_json(), "state": h.state, "up": h.up, "ready": h.ready, "detail": h.detail}
                for h in results
            ],
        }
        typer.echo(json.dumps(body, sort_keys=True))
        return 0 if all_ready else 1
    console = Console(soft_wrap=True, highlight=False)
    console.print(
        f"network in {data.root}: recorded {record.get('state')} (pid {record.get('pid')}, "
        f"started {record.get('started_at')})"
    )
    table = Table(show_edge=False, pad_edge=False)
    for column in ("service", "url", "state", "detail"):
        table.add_column(column, no_wrap=column != "detail")
    for h in results:
        colour = "green" if h.ready else "yellow" if h.up else "red"
        table.add_row(h.service.name, h.service.url, f"[{colour}]{h.state}[/{colour}]", _detail(h))
    console.print(table)
    return 0 if all_ready else 1
