"""Compile the Solidity suite with solc-js (through py-solc-x) into deterministic artifacts.

The standard-JSON input inlines every source the suite imports (ours and OpenZeppelin's), so the
build hash identifies exactly what was compiled; artifacts are written with sorted keys so that
an unchanged source tree gives byte-identical files, which CI checks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
import solcx.wrapper
from solcx.exceptions import SolcError

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
SOURCE_DIR = PACKAGE_DIR / "src"
BUILD_DIR = PACKAGE_DIR / "build"
SOLC_WRAPPER = PACKAGE_DIR / "bin" / "solc"
NODE_MODULES = PROJECT_ROOT / "node_modules"

# One place for the settings every artifact (and every gas figure) depends on.
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 1000
BUILD_MANIFEST = "build-info.json"

_IMPORT_RE = re.compile(r"""^\s*import\s+(?:[^"';]*?\bfrom\s+)?["']([^"']+)["']\s*;""", re.MULTILINE)


class CompileError(Exception):
    """The Solidity suite failed to compile, or its tools are missing."""


@dataclass(frozen=True)
class BuildResult:
    build_hash: str
    compiler_version: str
    artifacts: dict[str, dict[str, Any]]


def _unit_name(path: Path) -> str:
    return path.relative_to(PROJECT_ROOT).as_posix()


def _resolve(importer: str, target: str) -> str:
    if target.startswith("./") or target.startswith("../"):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), target))
    return target


def _read_unit(unit: str) -> str:
    for root in (PROJECT_ROOT, NODE_MODULES):
        candidate = root / unit
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise CompileError(f"cannot resolve import {unit!r} (run `make setup` for node_modules)")


def collect_sources(source_dir: Path = SOURCE_DIR) -> dict[str, str]:
    """Return every source unit the suite needs, keyed by unit name, imports resolved."""
    pending = [_unit_name(p) for p in sorted(source_dir.rglob("*.sol"))]
    sources: dict[str, str] = {}
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        text = _read_unit(unit)
        sources[unit] = text
        pending.extend(_resolve(unit, target) for target in _IMPORT_RE.findall(text))
    return dict(sorted(sources.items()))


def standard_input(sources: dict[str, str]) -> dict[str, Any]:
    """Return the solc standard-JSON input for `sources`."""
    return {
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in sources.items()},
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }


def compiler_version() -> str:
    """Return the full version string of the pinned solc-js."""
    if not SOLC_WRAPPER.exists() or not (NODE_MODULES / "solc").is_dir():
        raise CompileError("solc-js is not installed: run `make setup`")
    return str(solcx.wrapper.get_solc_version(SOLC_WRAPPER, with_commit_hash=True))


def compile_suite(source_dir: Path = SOURCE_DIR) -> BuildResult:
    """Compile every contract under `source_dir` and return its artifacts (not yet written)."""
    sources = collect_sources(source_dir)
    version = compiler_version()
    std_input = standard_input(sources)
    canonical = json.dumps(std_input, sort_keys=True, separators=(",", ":"))
    build_hash = "0x" + hashlib.sha256((version + canonical).encode()).hexdigest()
    try:
        output = solcx.compile_standard(std_input, solc_binary=SOLC_WRAPPER)
    except SolcError as exc:
        raise CompileError(exc.message) from exc
    own_units = {_unit_name(p) for p in source_dir.rglob("*.sol")}
    for diagnostic in output.get("errors", []):
        # Warnings inside OpenZeppelin are theirs to fix; ours must be seen.
        unit = diagnostic.get("sourceLocation", {}).get("file")
        level = logging.WARNING if unit in own_units or unit is None else logging.DEBUG
        logger.log(level, "%s", diagnostic.get("formattedMessage", diagnostic))
    artifacts: dict[str, dict[str, Any]] = {}
    for unit, contracts in output["contracts"].items():
        if unit not in own_units:
            continue
        source_hash = "0x" + hashlib.sha256(sources[unit].encode()).hexdigest()
        for name, compiled in contracts.items():
            bytecode = compiled["evm"]["bytecode"]["object"]
            if not bytecode or not compiled["abi"]:  # interfaces, internal-only libraries
                continue
            if name in artifacts:
                raise CompileError(f"two contracts are named {name}")
            artifacts[name] = {
                "contractName": name,
                "sourceName": unit,
                "sourceHash": source_hash,
                "buildHash": build_hash,
                "compiler": version,
                "abi": compiled["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
            }
    return BuildResult(build_hash=build_hash, compiler_version=version, artifacts=artifacts)


def _render(data: Any) -> str:
    return json.dumps(data, sort_keys=True, indent=1) + "\n"


def _rendered_files(result: BuildResult) -> dict[str, str]:
    files = {f"{name}.json": _render(art) for name, art in result.artifacts.items()}
    files[BUILD_MANIFEST] = _render(
        {
            "buildHash": result.build_hash,
            "compiler": result.compiler_version,
            "evmVersion": EVM_VERSION,
            "optimizerRuns": OPTIMIZER_RUNS,
            "contracts": sorted(result.artifacts),
        }
    )
    return files


def write_build(result: BuildResult, build_dir: Path = BUILD_DIR) -> list[Path]:
    """Write `result` to `build_dir`, removing artifacts of contracts that no longer exist."""
    build_dir.mkdir(parents=True, exist_ok=True)
    files = _rendered_files(result)
    for stale in build_dir.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = build_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_files(result: BuildResult, build_dir: Path = BUILD_DIR) -> list[str]:
    """Return the build files that differ from a fresh compile (missing, changed or extra)."""
    files = _rendered_files(result)
    existing = {p.name for p in build_dir.glob("*.json")}
    stale = sorted(existing - files.keys())
    for name, text in files.items():
        path = build_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return sorted(stale)
