"""The reference scenario's steps 1-7, 11 and 12 over HTTP, as members would run them.

The same `Story` that `scf demo` runs; here in-process on the `network` fixture, SQLite or
PostgreSQL. Steps 8-10 need devices and oracle nodes: the end-to-end test runs them.
"""

from __future__ import annotations

from rich.console import Console
from sqlmodel import Session

from api.models import Piece
from scripts.story import Story
from tests.api.conftest import OPERATOR_TOKEN, Network


def test_scenario_over_http(network: Network) -> None:
    def advance_clock(seconds: int) -> None:
        network.rpc("evm_increaseTime", [seconds])
        network.rpc("evm_mine", [])

    def tamper(piece_id: str, amount_minor: int) -> None:
        with Session(network.client.app.state.runtime.engine) as session:  # type: ignore[attr-defined]
            row = session.get(Piece, piece_id)
            assert row is not None
            row.amount_minor = amount_minor
            session.add(row)
            session.commit()

    console = Console(record=True, width=200)
    story = Story(network.client, OPERATOR_TOKEN, console=console, advance_clock=advance_clock, tamper=tamper)
    story.run()

    assert story.steps_run == [1, 2, 3, 4, 5, 6, 7, 11, 12]
    account = console.export_text()
    assert "refused (409 duplicate_invoice)" in account
    assert "refused (422 split_sum_mismatch)" in account
    assert "the altered row is reported" in account
