"""The benchmark summary page: figures next to targets, and honest about what was not run."""

from __future__ import annotations

import json
from pathlib import Path

from bench.summary import load, render, write


def _row(page: str, figure: str) -> list[str]:
    line = next(line for line in page.splitlines() if f"| {figure} |" in line)
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_summary_judges_each_figure_against_its_target(tmp_path: Path) -> None:
    (tmp_path / "api.json").write_text(
        json.dumps({"invoices_per_s_embedded": 120.5, "get_p99_ms": 180.0, "finance_e2e_p95_ms": 1000})
    )
    (tmp_path / "node.json").write_text(json.dumps({"ratio_node_vs_raw": 1.49, "node_tx_per_s": 150.2}))
    (tmp_path / "broken.json").write_text("{not json")

    page = write(tmp_path).read_text()

    assert _row(page, "invoices_per_s_embedded")[2:] == ["120.5", ">= 100", "met"]
    assert _row(page, "get_p99_ms")[2:] == ["180.0", "<= 100", "MISSED"]
    assert _row(page, "finance_e2e_p95_ms")[4] == "met"  # the limit itself meets an at-most target
    assert _row(page, "ratio_node_vs_raw")[4] == "MISSED"
    assert _row(page, "node_tx_per_s")[2:] == ["150.2", "", ""]
    assert _row(page, "readings_per_s")[2:] == ["-", ">= 2,000", "not measured"]
    assert "`broken.json`" not in page and "`api.json` written" in page


def test_summary_of_nothing_claims_nothing(tmp_path: Path) -> None:
    page = render(load(tmp_path))
    assert " met |" not in page and "MISSED" not in page
