"""Load compiled contract artifacts (ABI and bytecode) from the committed build output."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

BUILD_DIR = Path(__file__).resolve().parent / "build"


class ArtifactNotFound(LookupError):
    """No build artifact exists for the named contract: run `make build`."""


@cache
def load_artifact(name: str, build_dir: Path = BUILD_DIR) -> dict[str, Any]:
    """Return the artifact of contract `name`."""
    path = build_dir / f"{name}.json"
    if not path.is_file():
        raise ArtifactNotFound(f"no artifact for {name} in {build_dir}: run `make build`")
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def build_info(build_dir: Path = BUILD_DIR) -> dict[str, Any]:
    """Return the build manifest: build hash, compiler and contract list."""
    path = build_dir / "build-info.json"
    if not path.is_file():
        raise ArtifactNotFound(f"no build in {build_dir}: run `make build`")
    return json.loads(path.read_text(encoding="utf-8"))


def all_abis(build_dir: Path = BUILD_DIR) -> dict[str, list[dict[str, Any]]]:
    """Return every contract's ABI, keyed by contract name."""
    return {name: load_artifact(name, build_dir)["abi"] for name in build_info(build_dir)["contracts"]}
