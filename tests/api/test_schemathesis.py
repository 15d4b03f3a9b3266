"""schemathesis against the API's own OpenAPI document, in process, with state on a real chain.

Every operation is fuzzed as a member of each role (operator, supplier, core firm, bank, auditor),
with random path parameters and with the ids of real objects. Each response must not be a server
error and must match the document: status code declared, content type declared, body valid against
the schema. Every operation that declares the bearer scheme must answer 401 without the header.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from api.ratelimit import RateLimiter
from tests.api.conftest import OPERATOR_TOKEN, Network
from tests.api.support import Member, admit, invoice_form, pdf, upload

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Examples per operation and role, and without auth: bounded so the whole test stays under ~90 s.
EXAMPLES_PER_ROLE = 4
EXAMPLES_WITHOUT_AUTH = 3
# A stream never ends by itself: it is only probed for auth, not fuzzed.
STREAMS = {("GET", "/events/stream")}
# Writes that can take credentials away from the members below run last, so they cannot hide the rest.
LAST = {
    ("POST", "/me/api-keys/rotate"),
    ("DELETE", "/api-keys/{key_id}"),
    ("POST", "/organisations/{org_id}/suspend"),
}


def _text(value: Any) -> str | bytes:
    return value if isinstance(value, str | bytes) else json.dumps(value)


def _send(network: Network, case: Case) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    kwargs.pop("cookies", None)
    files, data = kwargs.pop("files", None), kwargs.pop("data", None)
    if files is not None:
        # requests accepts any scalar as a form value, httpx only text and bytes.
        kwargs["files"] = [
            (name, (part[0], _text(part[1]), *part[2:])) if isinstance(part, tuple) else (name, _text(part))
            for name, part in files
        ]
        if data is not None:
            kwargs["data"] = data
    elif data is not None:
        kwargs["content"] = data
    response = network.client.request(**kwargs)
    response.request.read()  # multipart bodies are streams; the checks read the request back
    return response


def _fuzz(examples: int, strategy: st.SearchStrategy[Case], check: Callable[[Case], None]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case) -> None:
        check(case)

    run()


def _world(network: Network) -> tuple[dict[str, Member], dict[str, Any]]:
    """Members of every role, money, and one confirmed invoice; the ids real requests would use."""
    c = network.client
    huaxin = admit(network, "huaxin", ["CORE_FIRM"])
    delta = admit(network, "delta", ["SUPPLIER"])
    bank = admit(network, "bank-a", ["BANK"])
    cpa = admit(network, "cpa", ["AUDITOR"])
    r = c.post(
        "/settlement/deposits?wait=true",
        json={"to_org_id": huaxin.org_id, "amount": "1000.00"},
        headers=bank.headers,
    )
    assert r.status_code == 201, r.text
    r = upload(network, delta, invoice_form("INV-7001", huaxin, "500.00"), pdf("fuzz"))
    assert r.status_code == 201, r.text
    invoice_id = r.json()["result"]["id"]
    operation_id = r.json()["operation"]["id"]
    r = c.post(f"/invoices/{invoice_id}/confirm?wait=true", headers=huaxin.headers)
    assert r.status_code == 200, r.text
    operator = Member("operator", 1, 1, "", OPERATOR_TOKEN, "")
    members = {"operator": operator, "supplier": delta, "core_firm": huaxin, "bank": bank, "auditor": cpa}
    ids = {
        "org_id": delta.org_id,
        "invoice_id": invoice_id,
        "piece_id": invoice_id,
        "root_id": invoice_id,
        "operation_id": operation_id,
    }
    return members, ids


def test_schemathesis_openapi_conformance_for_every_role(network: Network) -> None:
    app = network.client.app
    app.state.limiter = RateLimiter(1_000_000)  # fuzzing is not abuse; 429 is exercised elsewhere
    members, ids = _world(network)
    schema = schemathesis.openapi.from_dict(app.openapi())  # type: ignore[attr-defined]
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: (op.method.upper(), op.path) in LAST)
    failures: list[str] = []
    answered: Counter[tuple[str, int]] = Counter()  # (role, status class) of every fuzzed response
    started = time.monotonic()

    for operation in operations:
        key = (operation.method.upper(), operation.path)
        secured = bool(operation.definition.raw.get("security", schema.raw_schema.get("security")))

        # Declared auth is enforced: no header, 401 with the error body.
        if secured:

            def without_auth(case: Case, label: str = operation.label) -> None:
                case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
                response = _send(network, case)
                if response.status_code != 401:
                    failures.append(f"{label} without auth: {response.status_code} {response.text[:200]}")

            _fuzz(EXAMPLES_WITHOUT_AUTH, operation.as_strategy(), without_auth)
        if key in STREAMS:
            continue

        for role, member in members.items():
            names = {p.name for p in operation.iter_parameters() if p.location == "path"}
            known = {name: value for name, value in ids.items() if name in names}
            strategy = operation.as_strategy()
            if known:
                strategy = st.one_of(strategy, operation.as_strategy(path_parameters=known))

            def as_member(
                case: Case, token: str = member.token, label: str = f"{operation.label} as {role}"
            ) -> None:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
                try:
                    response = _send(network, case)
                except Exception as exc:  # noqa: BLE001 - the app raised: a 500 in production
                    failures.append(f"{label}: server error {type(exc).__name__}: {exc}"[:400])
                    return
                answered[label.rsplit(" as ", 1)[1], response.status_code // 100] += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except FailureGroup as group:  # every failure is reported together below
                    for exc in group.exceptions:
                        failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:400]}")

            _fuzz(EXAMPLES_PER_ROLE, strategy, as_member)

    elapsed = time.monotonic() - started
    # The members really got through: each role had requests answered with success.
    print(f"schemathesis: {sum(answered.values())} requests in {elapsed:.0f} s: {sorted(answered.items())}")
    assert all(answered[role, 2] for role in members), answered
    assert not failures, f"{len(failures)} failures in {elapsed:.0f} s:\n" + "\n".join(
        sorted(set(failures))[:60]
    )
