"""API keys: rotation, revocation (by the member, by the operator) at once, malformed and missing tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from api.models import ApiKey, Member
from chain.devnet import dev_credit_code
from tests.api.conftest import Network
from tests.api.world import OPERATOR, running_network


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with running_network(Path(tmp_path_factory.mktemp("keys"))) as network:
        yield network


def _org(net: Network, name: str) -> int:
    """An organisation in the directory (its admission on chain does not matter to keys)."""
    body = {"name": name, "credit_code": dev_credit_code(name), "roles": ["SUPPLIER"]}
    r = net.client.post("/organisations", json=body, headers=OPERATOR)
    assert r.status_code == 202, r.text
    return int(r.json()["operation"]["subject_id"].split(":", 1)[1])


def _member(net: Network, org_id: int) -> tuple[dict[str, str], int]:
    r = net.client.post(f"/organisations/{org_id}/members", json={"name": "clerk"}, headers=OPERATOR)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['api_key']}"}, r.json()["api_key_id"]


def _refused(net: Network, headers: dict[str, str], code: str = "invalid_token") -> None:
    r = net.client.get("/me", headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == code
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_rotation_revokes_the_old_key_at_once(net: Network) -> None:
    old, old_id = _member(net, _org(net, "rotating"))
    r = net.client.post("/me/api-keys/rotate", headers=old)
    assert r.status_code == 201, r.text
    new = {"Authorization": f"Bearer {r.json()['api_key']}"}
    assert r.json()["api_key_id"] != old_id
    _refused(net, old)
    me = net.client.get("/me", headers=new)
    assert me.status_code == 200 and me.json()["api_key_id"] == r.json()["api_key_id"]
    # The old key cannot rotate again either.
    assert net.client.post("/me/api-keys/rotate", headers=old).status_code == 401


def test_a_member_revokes_its_own_key_at_once(net: Network) -> None:
    headers, key_id = _member(net, _org(net, "self-revoking"))
    r = net.client.delete(f"/api-keys/{key_id}", headers=headers)
    assert r.status_code == 204, r.text
    _refused(net, headers)
    # Revoking a revoked key is a no-op for whoever may revoke it.
    assert net.client.delete(f"/api-keys/{key_id}", headers=OPERATOR).status_code == 204


def test_the_operator_revokes_any_key_at_once(net: Network) -> None:
    headers, key_id = _member(net, _org(net, "operator-revoked"))
    assert net.client.get("/me", headers=headers).status_code == 200
    r = net.client.delete(f"/api-keys/{key_id}", headers=OPERATOR)
    assert r.status_code == 204, r.text
    _refused(net, headers)


def test_a_member_cannot_revoke_another_members_key(net: Network) -> None:
    org_a, org_b = _org(net, "keys-a"), _org(net, "keys-b")
    a, _ = _member(net, org_a)
    a2, a2_key = _member(net, org_a)
    b, b_key = _member(net, org_b)
    for target in (b_key, a2_key):  # another organisation's, and a colleague's
        r = net.client.delete(f"/api-keys/{target}", headers=a)
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_your_key", r.text
    assert net.client.get("/me", headers=b).status_code == 200
    assert net.client.get("/me", headers=a2).status_code == 200
    r = net.client.delete("/api-keys/999999", headers=a)
    assert r.status_code == 404 and r.json()["error"]["code"] == "api_key_not_found"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "scf",
        "scf_",
        "scf__secret",
        "scf_prefix_",
        "xyz_prefix_secret",
        "scf_unknownprefix_" + "s" * 43,
        "scf_operator0_" + "x" * 43,  # the operator's prefix with a wrong secret
        "scf_operator0_" + "o" * 42,
        "scf_" + "p" * 500 + "_" + "s" * 43,
    ],
)
def test_malformed_or_unknown_tokens_are_401_invalid_token(net: Network, token: str) -> None:
    _refused(net, {"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic b3BlcmF0b3I6cw==", "Token abc"])
def test_a_missing_token_is_401_missing_token(net: Network, header: str | None) -> None:
    _refused(net, {} if header is None else {"Authorization": header}, "missing_token")


def test_keys_are_stored_hashed(net: Network) -> None:
    r = net.client.post(f"/organisations/{_org(net, 'hashed')}/members", json={"name": "c"}, headers=OPERATOR)
    token = r.json()["api_key"]
    secret = token.split("_", 2)[2]
    with Session(net.client.app.state.runtime.engine) as session:
        key = session.get(ApiKey, r.json()["api_key_id"])
        assert key is not None and secret not in (key.secret_hash, key.prefix)
        assert all(secret not in k.secret_hash for k in session.exec(select(ApiKey)).all())


def test_a_disabled_member_is_refused_at_once(net: Network) -> None:
    headers, _ = _member(net, _org(net, "disabled"))
    me = net.client.get("/me", headers=headers).json()
    with Session(net.client.app.state.runtime.engine) as session:
        member = session.get(Member, me["member_id"])
        assert member is not None
        member.disabled = True
        session.add(member)
        session.commit()
    _refused(net, headers, "member_disabled")
