"""The reference scenario's cast (shared/SCENARIO.md) admitted as demo organisations, through the API.

They are admitted exactly as the operator admits any member (`POST /organisations`, then
`POST /organisations/{id}/members`), so their credentials are ordinary API keys. The keys are
shown once by the API: they are written at once to a 0600 file in the data dir, which also marks
the cast as done, so a restart admits nobody twice. Admissions carry an Idempotency-Key, so a
start interrupted half way replays the ones already made.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from chain.devnet import dev_credit_code
from scripts.datadir import write_private


@dataclass(frozen=True)
class CastMember:
    key: str
    name: str
    roles: tuple[str, ...]


CAST = (
    CastMember("huaxin", "Huaxin Auto", ("CORE_FIRM",)),
    CastMember("delta", "Delta Brakes", ("SUPPLIER",)),
    CastMember("eastern", "Eastern Steel", ("SUPPLIER",)),
    CastMember("bank-a", "Bank A", ("BANK",)),
    CastMember("bank-b", "Bank B", ("BANK",)),
    CastMember("north", "North Logistics", ("WAREHOUSE",)),
    CastMember("cpa", "CPA Audit", ("AUDITOR",)),
)


class DemoOrgsFailed(RuntimeError):
    """The API refused or did not finish admitting the cast."""


def read_credentials(path: Path) -> dict[str, Any] | None:
    """The cast's credentials if a previous start admitted all of it, else None."""
    if not path.exists():
        return None
    body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return body if body.get("complete") else None


def admit_cast(api_url: str, operator_token: str, path: Path, *, timeout_s: float = 60.0) -> dict[str, Any]:
    """Admit the cast, give each organisation a member, and keep their API keys in `path` (0600)."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {operator_token}"
    organisations: dict[str, Any] = {}
    for member in CAST:
        answer = http.post(
            f"{api_url}/organisations",
            json={
                "name": member.name,
                "credit_code": dev_credit_code(member.key),
                "roles": list(member.roles),
            },
            headers={"Idempotency-Key": f"scf-up-demo:{member.key}"},
            timeout=30,
        )
        if answer.status_code not in (200, 201, 202):
            raise DemoOrgsFailed(f"admitting {member.name}: HTTP {answer.status_code} {answer.text[:300]}")
        org_id = int(answer.json()["operation"]["subject_id"].removeprefix("org:"))
        created = http.post(f"{api_url}/organisations/{org_id}/members", json={"name": "demo"}, timeout=30)
        if created.status_code != 201:
            raise DemoOrgsFailed(f"adding a member to {member.name}: HTTP {created.status_code}")
        organisations[member.key] = {
            "name": member.name,
            "org_id": org_id,
            "credit_code": dev_credit_code(member.key),
            "roles": list(member.roles),
            "member_id": created.json()["member_id"],
            "api_key": created.json()["api_key"],
        }
        _write(path, api_url, organisations, complete=False)
    _wait_active(http, api_url, [o["org_id"] for o in organisations.values()], timeout_s)
    return _write(path, api_url, organisations, complete=True)


def _write(path: Path, api_url: str, organisations: dict[str, Any], *, complete: bool) -> dict[str, Any]:
    body = {"api": api_url, "complete": complete, "organisations": organisations}
    write_private(path, json.dumps(body, indent=2) + "\n")
    return body


def _wait_active(http: requests.Session, api_url: str, org_ids: list[int], timeout_s: float) -> None:
    """Wait until every organisation is admitted on chain and indexed."""
    deadline = time.monotonic() + timeout_s
    waiting = set(org_ids)
    while waiting:
        for org_id in sorted(waiting):
            body = http.get(f"{api_url}/organisations/{org_id}", timeout=10).json()
            if body.get("status") == "active":
                waiting.discard(org_id)
        if waiting and time.monotonic() > deadline:
            raise DemoOrgsFailed(
                f"organisations {sorted(waiting)} were not admitted within {timeout_s:.0f} s"
            )
        if waiting:
            time.sleep(0.2)
