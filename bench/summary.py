"""One markdown page of the latest benchmark figures, each next to its target.

Reads what `scf bench gas|node|api|iot --json` wrote to bench/results/*.json; a benchmark
not run yet shows as such, so the page never quotes a figure nobody measured.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Target:
    bench: str
    key: str
    op: str  # ">=" or "<=", or "" for a figure reported without a target
    limit: float | None = None

    def verdict(self, value: Any) -> str:
        if value is None:
            return "not measured"
        if not self.op or self.limit is None:
            return ""
        compare: Callable[[float, float], bool] = operator.ge if self.op == ">=" else operator.le
        return "met" if compare(float(value), self.limit) else "MISSED"


TARGETS = (
    Target("node", "node_tx_per_s", ""),
    Target("node", "raw_ethtester_tx_per_s", ""),
    Target("node", "anvil_tx_per_s", ""),
    Target("node", "ratio_node_vs_raw", ">=", 1.5),
    Target("node", "restart_s_20k", ""),
    Target("node", "rss_mb_20k", ""),
    Target("api", "invoices_per_s_embedded", ">=", 100),
    Target("api", "invoices_per_s_anvil", ">=", 500),
    Target("api", "finance_e2e_p95_ms", "<=", 1000),
    Target("api", "get_p99_ms", "<=", 100),
    Target("iot", "readings_per_s", ">=", 2000),
    Target("iot", "mosquitto_raw_msgs_per_s", ""),
    Target("iot", "alert_latency_p95_ms", "<=", 3000),
    Target("iot", "gas_per_reading", ""),
)


def load(results_dir: Path = RESULTS_DIR) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(results_dir.glob("*.json")):
        try:
            found[path.stem] = {"_mtime": path.stat().st_mtime, **json.loads(path.read_text())}
        except (OSError, ValueError):
            continue
    return found


def _gas_rows(gas: dict[str, Any]) -> list[str]:
    from bench.gas import evaluate  # the gas limits live with the gas benchmark

    figures = {k: v for k, v in gas.items() if not k.startswith("_")}
    rows = []
    for key, v in evaluate(figures).items():  # type: ignore[arg-type]
        rows.append(
            f"| gas | {key} | {v['value']:,} | <= {v['limit']:,.0f} | {'met' if v['met'] else 'MISSED'} |"
        )
    return rows


def render(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "# Benchmark summary",
        "",
        "Latest figures of `make bench` (bench/results/*.json) on this machine; targets from the issues.",
        "",
        "| bench | figure | value | target | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for t in TARGETS:
        value = results.get(t.bench, {}).get(t.key)
        shown = "-" if value is None else (f"{value:,}" if isinstance(value, int | float) else str(value))
        target = f"{t.op} {t.limit:,g}" if t.op and t.limit is not None else ""
        lines.append(f"| {t.bench} | {t.key} | {shown} | {target} | {t.verdict(value)} |")
    if "gas" in results:
        lines.extend(_gas_rows(results["gas"]))
    lines.append("")
    for name, data in sorted(results.items()):
        when = dt.datetime.fromtimestamp(data["_mtime"], dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(f"- `{name}.json` written {when}")
    return "\n".join(lines) + "\n"


def write(results_dir: Path = RESULTS_DIR) -> Path:
    out = results_dir / "summary.md"
    out.write_text(render(load(results_dir)))
    return out
