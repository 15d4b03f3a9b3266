"""The Solidity build: deterministic compile, artifact shape, stale-file detection, artifact loading."""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from contracts.artifacts import ArtifactNotFound, all_abis, build_info, load_artifact
from contracts.compiler import (
    BUILD_DIR,
    BUILD_MANIFEST,
    EVM_VERSION,
    OPTIMIZER_RUNS,
    BuildResult,
    collect_sources,
    compile_suite,
    compiler_version,
    stale_files,
    standard_input,
    write_build,
)

SUITE = ("MemberRegistry", "SettlementToken", "Receivables")
REQUIRED_FIELDS = {"contractName", "sourceName", "sourceHash", "buildHash", "compiler", "abi", "bytecode"}


@dataclass(frozen=True)
class Compiled:
    sources: dict[str, str]
    result: BuildResult


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Compiled:
    """One compile of the working tree (it takes seconds), shared by the xdist workers of a run."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # the run's directory, common to workers
    cache = shared / "scfnet-compile.json"
    with open(shared / "scfnet-compile.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sources = collect_sources()
        if cache.exists():
            cached = json.loads(cache.read_text(encoding="utf-8"))
            if cached["sources"] == sources:
                return Compiled(sources, BuildResult(**cached["result"]))
        result = compile_suite()
        cache.write_text(json.dumps({"sources": sources, "result": asdict(result)}), encoding="utf-8")
        return Compiled(sources, result)


@pytest.fixture
def build_copy(tmp_path: Path, compiled: Compiled) -> Path:
    """A temporary copy of contracts/build, brought up to date with the compile."""
    copy = tmp_path / "build"
    shutil.copytree(BUILD_DIR, copy)
    write_build(compiled.result, copy)
    return copy


def _sha256(text: str) -> str:
    return "0x" + hashlib.sha256(text.encode()).hexdigest()


def test_compile_suite_twice_gives_identical_build(compiled: Compiled, tmp_path: Path) -> None:
    again = compile_suite()
    if collect_sources() != compiled.sources:
        pytest.skip("the sources changed between the two compiles")
    assert again.build_hash == compiled.result.build_hash
    assert again.compiler_version == compiled.result.compiler_version
    assert again.artifacts == compiled.result.artifacts
    first, second = tmp_path / "first", tmp_path / "second"
    write_build(compiled.result, first)
    write_build(again, second)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_build_hash_covers_compiler_and_every_source(compiled: Compiled) -> None:
    canonical = json.dumps(standard_input(compiled.sources), sort_keys=True, separators=(",", ":"))
    assert compiled.result.build_hash == _sha256(compiler_version() + canonical)
    assert compiled.result.compiler_version == compiler_version()
    # OpenZeppelin's sources are part of what is hashed, not only ours.
    assert any(unit.startswith("@openzeppelin/") for unit in compiled.sources)
    assert list(compiled.sources) == sorted(compiled.sources)


def test_standard_input_pins_settings(compiled: Compiled) -> None:
    settings = standard_input(compiled.sources)["settings"]
    assert settings["evmVersion"] == EVM_VERSION
    assert settings["optimizer"] == {"enabled": True, "runs": OPTIMIZER_RUNS}


@pytest.mark.parametrize("name", SUITE)
def test_artifact_has_abi_bytecode_and_hashes(compiled: Compiled, name: str) -> None:
    artifact = compiled.result.artifacts[name]
    assert REQUIRED_FIELDS | {"deployedBytecode"} <= set(artifact)
    assert artifact["contractName"] == name
    assert artifact["sourceName"] == f"contracts/src/{name}.sol"
    assert isinstance(artifact["abi"], list) and artifact["abi"]
    for field in ("bytecode", "deployedBytecode"):
        assert artifact[field].startswith("0x") and len(artifact[field]) > 2
        bytes.fromhex(artifact[field][2:])
    assert artifact["sourceHash"] == _sha256(compiled.sources[artifact["sourceName"]])
    assert artifact["buildHash"] == compiled.result.build_hash
    assert artifact["compiler"] == compiled.result.compiler_version


def test_artifacts_exclude_interfaces_and_libraries(compiled: Compiled) -> None:
    assert set(SUITE) <= set(compiled.result.artifacts)
    for name in ("IMemberRegistry", "ISettlementToken", "IReceivables", "Roles", "DiscountMath", "ERC20"):
        assert name not in compiled.result.artifacts
    for artifact in compiled.result.artifacts.values():
        assert artifact["sourceName"].startswith("contracts/src/")


def test_write_build_then_no_stale_files(compiled: Compiled, tmp_path: Path) -> None:
    written = write_build(compiled.result, tmp_path)
    assert sorted(p.name for p in written) == sorted(
        [f"{n}.json" for n in compiled.result.artifacts] + [BUILD_MANIFEST]
    )
    assert stale_files(compiled.result, tmp_path) == []


def test_written_files_are_sorted_indented_json(compiled: Compiled, tmp_path: Path) -> None:
    write_build(compiled.result, tmp_path)
    for path in tmp_path.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=1) + "\n", path.name
    manifest = json.loads((tmp_path / BUILD_MANIFEST).read_text(encoding="utf-8"))
    assert manifest == {
        "buildHash": compiled.result.build_hash,
        "compiler": compiled.result.compiler_version,
        "evmVersion": EVM_VERSION,
        "optimizerRuns": OPTIMIZER_RUNS,
        "contracts": sorted(compiled.result.artifacts),
    }


def test_stale_files_reports_modified_artifact(compiled: Compiled, build_copy: Path) -> None:
    assert stale_files(compiled.result, build_copy) == []
    path = build_copy / "MemberRegistry.json"
    artifact = json.loads(path.read_text(encoding="utf-8"))
    artifact["bytecode"] = artifact["bytecode"][:-2] + ("00" if artifact["bytecode"][-2:] != "00" else "01")
    path.write_text(json.dumps(artifact, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    assert stale_files(compiled.result, build_copy) == ["MemberRegistry.json"]


def test_stale_files_reports_reformatted_artifact(compiled: Compiled, build_copy: Path) -> None:
    path = build_copy / "Receivables.json"
    path.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8"))), encoding="utf-8")
    assert stale_files(compiled.result, build_copy) == ["Receivables.json"]


def test_stale_files_reports_missing_extra_and_manifest(compiled: Compiled, build_copy: Path) -> None:
    (build_copy / "SettlementToken.json").unlink()
    (build_copy / "Ghost.json").write_text("{}\n", encoding="utf-8")
    manifest = build_copy / BUILD_MANIFEST
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("cancun", "paris"), encoding="utf-8")
    assert stale_files(compiled.result, build_copy) == ["Ghost.json", "SettlementToken.json", BUILD_MANIFEST]


def test_write_build_removes_artifacts_of_deleted_contracts(compiled: Compiled, build_copy: Path) -> None:
    (build_copy / "Ghost.json").write_text("{}\n", encoding="utf-8")
    write_build(compiled.result, build_copy)
    assert not (build_copy / "Ghost.json").exists()
    assert stale_files(compiled.result, build_copy) == []


def test_artifacts_loader_reads_a_written_build(compiled: Compiled, tmp_path: Path) -> None:
    write_build(compiled.result, tmp_path)
    for name, artifact in compiled.result.artifacts.items():
        assert load_artifact(name, tmp_path) == artifact
    assert build_info(tmp_path)["buildHash"] == compiled.result.build_hash
    abis = all_abis(tmp_path)
    assert set(abis) == set(compiled.result.artifacts)
    assert abis["Receivables"] == compiled.result.artifacts["Receivables"]["abi"]


def test_artifacts_loader_missing_build_raises(tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound):
        load_artifact("MemberRegistry", tmp_path)
    with pytest.raises(ArtifactNotFound):
        build_info(tmp_path)
