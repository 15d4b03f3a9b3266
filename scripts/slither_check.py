"""Run Slither over the suite's own contracts and fail on untriaged High or Medium findings.

Runs under the Slither venv (`make slither`), which does not have the project's dependencies: the
solc standard-JSON input is built by `contracts.compiler` in the project venv (a subprocess), so
Slither analyses exactly what `scf build` compiles (same sources, OpenZeppelin, EVM version and
optimizer), compiled by the pinned solc-js through `contracts/bin/solc`.

Findings are kept when they touch `contracts/src` (OpenZeppelin-only findings are dropped). Every
High or Medium finding must match a row of docs/security/slither-triage.md (detector + location,
with a reason); inline `slither-disable` comments are deliberately not honoured, so the triage
file is the single record. Exit status: 0 clean, 1 untriaged High/Medium findings, 2 tool error.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = PROJECT_ROOT / "contracts" / "src"
SOLC_WRAPPER = PROJECT_ROOT / "contracts" / "bin" / "solc"
TRIAGE_FILE = PROJECT_ROOT / "docs" / "security" / "slither-triage.md"
DEFAULT_REPORT = Path(tempfile.gettempdir()) / "scfnet-slither-report.json"
GATED_IMPACTS = ("High", "Medium")
IMPACT_ORDER = ("High", "Medium", "Low", "Informational", "Optimization")

# Slither needs the AST and source maps; the build's own selection asks only for ABI and bytecode.
_OUTPUT_SELECTION = {
    "*": {"*": ["abi", "evm.bytecode", "evm.deployedBytecode"], "": ["ast"]},
}
_DUMP_INPUT = (
    "import json, sys\n"
    "from contracts.compiler import collect_sources, standard_input\n"
    "json.dump(standard_input(collect_sources()), sys.stdout)\n"
)


class CheckError(Exception):
    """Slither could not be run: missing tools, a compile error, a malformed triage file."""


@dataclass(frozen=True)
class TriageEntry:
    detector: str
    location: str
    reason: str
    line: int

    def matches(self, finding: Finding) -> bool:
        return self.detector == finding.check and fnmatchcase(finding.location, self.location)


@dataclass
class Finding:
    check: str
    impact: str
    confidence: str
    location: str
    source: str
    description: str
    id: str
    triage_reason: str | None = None


class _LogCollector(logging.Handler):
    """Keeps Slither's and crytic-compile's warnings so they are summarised, not sprayed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# ---------------------------------------------------------------- inputs


def _project_python() -> Path:
    override = os.environ.get("SCF_PYTHON")
    python = Path(override) if override else PROJECT_ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        raise CheckError(f"project interpreter {python} not found: run `make setup`")
    return python


def standard_json_input() -> dict[str, Any]:
    """The build's standard-JSON input (from `contracts.compiler`), with Slither's output selection."""
    proc = subprocess.run(
        [str(_project_python()), "-c", _DUMP_INPUT],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise CheckError(f"could not build the standard-JSON input:\n{proc.stderr.strip()}")
    std_input = json.loads(proc.stdout)
    std_input["settings"]["outputSelection"] = _OUTPUT_SELECTION
    return std_input


_ROW_RE = re.compile(r"^\s*\|(.+)\|\s*$")


def _cell(text: str) -> str:
    return text.strip().strip("`").strip()


def load_triage(path: Path = TRIAGE_FILE) -> list[TriageEntry]:
    """Rows `| detector | location | reason |` of every table in `path` (header rows skipped)."""
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = _ROW_RE.match(line)
        if not row:
            continue
        cells = [_cell(c) for c in row.group(1).split("|")]
        if len(cells) < 3 or set("".join(cells)) <= set("-: ") or cells[0].lower() == "detector":
            continue
        detector, location, reason = cells[0], cells[1], "|".join(cells[2:]).strip()
        if not detector or not location or not reason:
            raise CheckError(f"{path.name}:{number}: a triage row needs a detector, a location and a reason")
        entries.append(TriageEntry(detector, location, reason, number))
    return entries


# ---------------------------------------------------------------- analysis


def _location(element: dict[str, Any]) -> str:
    """`Contract.function`, `Contract.function.local`, `Contract.stateVariable` or `Contract`."""
    names = []
    node: dict[str, Any] | None = element
    while node:
        if node.get("type") in ("contract", "function", "variable", "event", "struct", "enum", "modifier"):
            names.append(node["name"])
        node = node.get("type_specific_fields", {}).get("parent")
    if element.get("type") == "node":  # a statement: report the function it is in
        names = names or [element["name"]]
    return ".".join(reversed(names)) if names else element.get("name", "?")


def _finding(result: dict[str, Any]) -> Finding:
    own = [e for e in result["elements"] if _is_own(e.get("source_mapping", {}).get("filename_absolute"))]
    primary = (result["elements"] or [{}])[0]
    anchor = primary if primary in own or not own else own[0]
    mapping = anchor.get("source_mapping", {})
    lines = mapping.get("lines") or [0]
    return Finding(
        check=result["check"],
        impact=result["impact"],
        confidence=result["confidence"],
        location=_location(anchor) if anchor else "?",
        source=f"{_display_path(mapping.get('filename_absolute'))}#{lines[0]}",
        description=result["description"].strip(),
        id=result["id"],
    )


def _display_path(filename: str | None) -> str:
    if not filename:
        return "?"
    path = Path(filename).resolve()
    return path.relative_to(PROJECT_ROOT).as_posix() if path.is_relative_to(PROJECT_ROOT) else str(path)


def _is_own(filename: str | None) -> bool:
    return bool(filename) and Path(filename).resolve().is_relative_to(SOURCE_DIR)


def _errors_only(message: str) -> str:
    """crytic-compile reports solc's errors with all its warnings (OpenZeppelin's too): drop those."""
    parts = re.split(r"^(?=\w+: \w+: )", message, flags=re.MULTILINE)
    errors = [p.strip() for p in parts if p.strip() and not p.startswith("Warning: ")]
    return "\n\n".join(errors) or message.strip()


def run_slither(std_input: dict[str, Any]) -> tuple[list[dict[str, Any]], str, list[logging.LogRecord]]:
    """Compile `std_input` with the solc-js wrapper and run every Slither detector over it."""
    try:
        from crytic_compile import CryticCompile
        from crytic_compile.platform.exceptions import InvalidCompilation
        from crytic_compile.platform.solc_standard_json import SolcStandardJson
        from slither import Slither
        from slither.detectors import all_detectors
        from slither.detectors.abstract_detector import AbstractDetector
    except ImportError as exc:
        raise CheckError(f"Slither is not installed in this interpreter ({exc}): run `make slither`") from exc

    if not SOLC_WRAPPER.exists() or not (PROJECT_ROOT / "node_modules" / "solc").is_dir():
        raise CheckError("solc-js is not installed: run `make setup`")
    # crytic-compile and Slither call logging.basicConfig() on import: divert the root handlers.
    collector = _LogCollector()
    root_logger = logging.getLogger()
    saved_handlers = root_logger.handlers[:]
    root_logger.handlers = [collector]
    try:
        platform = SolcStandardJson(std_input)
        try:
            compilation = CryticCompile(platform, solc=str(SOLC_WRAPPER), solc_working_dir=str(PROJECT_ROOT))
        except InvalidCompilation as exc:
            raise CheckError(f"compilation failed:\n{_errors_only(str(exc))}") from exc
        slither = Slither(
            compilation,
            include_paths=[re.escape(SOURCE_DIR.as_posix())],
            show_ignored_findings=True,  # the triage file, not inline comments, records decisions
        )
        for _, detector in inspect.getmembers(all_detectors, inspect.isclass):
            if issubclass(detector, AbstractDetector):
                slither.register_detector(detector)
        results = [r for per_detector in slither.run_detectors() for r in per_detector]
    finally:
        root_logger.handlers = saved_handlers
    version = next(iter(compilation.compilation_units.values())).compiler_version.version
    return results, version, collector.records


# ---------------------------------------------------------------- report


def _print_findings(title: str, findings: list[Finding]) -> None:
    print(f"\n{title}")
    for f in findings:
        print(f"  [{f.impact}/{f.confidence}] {f.check} @ {f.location} ({f.source})")
        for line in f.description.splitlines():
            print(f"      {line}")


def _print_log_summary(records: list[logging.LogRecord]) -> None:
    theirs = [r for r in records if "node_modules" in r.getMessage() or "@openzeppelin" in r.getMessage()]
    ours = [r for r in records if r not in theirs and r.levelno >= logging.ERROR]
    if theirs:
        print(f"note: {len(theirs)} Slither/solc messages about OpenZeppelin (node_modules) hidden")
    for record in ours:
        print(f"WARNING from {record.name}: {record.getMessage().strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_REPORT, help="where to write the JSON report")
    parser.add_argument("--verbose", action="store_true", help="also list Low/Informational findings")
    args = parser.parse_args(argv)

    started = time.monotonic()
    try:
        triage = load_triage()
        results, version, log_records = run_slither(standard_json_input())
    except CheckError as exc:
        print(f"slither-check: {exc}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started

    findings = sorted(
        (_finding(r) for r in results),
        key=lambda f: (IMPACT_ORDER.index(f.impact), f.check, f.location, f.source),
    )
    used: set[TriageEntry] = set()
    for f in findings:
        if f.impact not in GATED_IMPACTS:
            continue
        entry = next((e for e in triage if e.matches(f)), None)
        if entry:
            f.triage_reason = entry.reason
            used.add(entry)
    gated = [f for f in findings if f.impact in GATED_IMPACTS]
    untriaged = [f for f in gated if f.triage_reason is None]
    stale = [e for e in triage if e not in used]
    counts = Counter(f.impact for f in findings)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "compiler": version,
        "seconds": round(elapsed, 1),
        "counts": {impact: counts.get(impact, 0) for impact in IMPACT_ORDER},
        "untriaged": len(untriaged),
        "staleTriageEntries": [asdict(e) for e in stale],
        "findings": [asdict(f) for f in findings],
    }
    args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")

    _print_log_summary(log_records)
    summary = ", ".join(f"{impact} {counts.get(impact, 0)}" for impact in IMPACT_ORDER)
    print(f"Slither on contracts/src (solc {version}, {elapsed:.0f} s): {summary}")
    print(f"High/Medium: {len(gated)}, triaged {len(gated) - len(untriaged)}, untriaged {len(untriaged)}")
    if args.verbose:
        _print_findings("Triaged or not gated:", [f for f in findings if f not in untriaged])
    for e in stale:
        print(f"note: stale triage row {TRIAGE_FILE.name}:{e.line} ({e.detector} @ {e.location})")
    if untriaged:
        _print_findings(
            f"UNTRIAGED High/Medium findings: fix them or add a row with a reason to "
            f"{TRIAGE_FILE.relative_to(PROJECT_ROOT)}:",
            untriaged,
        )
    print(f"JSON report: {args.json}")
    return 1 if untriaged else 0


if __name__ == "__main__":
    sys.exit(main())
