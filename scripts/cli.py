"""`scf`: the scfnet command line."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="scfnet: a permissioned blockchain network for supply-chain finance.", no_args_is_help=True
)
bench_app = typer.Typer(
    help="Benchmarks; results are printed and written to bench/results/.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")
devices_app = typer.Typer(help="Sensor devices: simulate a lot's devices over MQTT.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")

console = Console(stderr=True)
RESULTS_DIR = Path(__file__).resolve().parent.parent / "bench" / "results"


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at debug level.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def build(
    check: Annotated[
        bool, typer.Option("--check", help="Fail if the committed build output is stale.")
    ] = False,
) -> None:
    """Compile the contracts into contracts/build (deterministic artifacts)."""
    from contracts.compiler import CompileError, compile_suite, stale_files, write_build

    try:
        result = compile_suite()
    except CompileError as exc:
        console.print(f"[red]compile failed[/red]: {exc}")
        raise typer.Exit(1) from exc
    if check:
        stale = stale_files(result)
        if stale:
            console.print(
                f"[red]contracts/build is stale[/red] ({', '.join(stale)}): run `make build` and commit"
            )
            raise typer.Exit(1)
        console.print(f"contracts/build is up to date (build {result.build_hash[:18]}…)")
        return
    written = write_build(result)
    count = len(result.artifacts)
    console.print(f"compiled {count} contracts with solc {result.compiler_version} -> {len(written)} files")


@app.command()
def deploy(
    rpc: Annotated[str, typer.Option(help="JSON-RPC URL of the chain.", envvar="SCF_RPC_URL")],
    out: Annotated[Path, typer.Option(help="Where to write the deployment manifest.")] = Path(
        ".data/deployment.json"
    ),
    key_file: Annotated[
        Path | None,
        typer.Option(help="File holding the operator's hex private key (else $SCF_OPERATOR_KEY)."),
    ] = None,
    operator_credit_code: Annotated[
        str | None, typer.Option(help="The operator organisation's unified social credit code.")
    ] = None,
    dev: Annotated[
        bool, typer.Option(help="Use the well-known development operator key and credit code.")
    ] = False,
) -> None:
    """Deploy the contract suite, admit the operator, and write the deployment manifest."""
    from eth_account import Account

    from chain.client import ChainClient
    from chain.deploy import SuiteParams, deploy_suite
    from chain.devnet import dev_account, dev_credit_code
    from chain.identifiers import InvalidIdentifier, parse_credit_code

    if dev:
        operator = dev_account("operator")
        code = dev_credit_code("operator")
    else:
        raw_key = key_file.read_text().strip() if key_file else os.environ.get("SCF_OPERATOR_KEY", "")
        if not raw_key or not operator_credit_code:
            console.print(
                "[red]need --key-file (or $SCF_OPERATOR_KEY) and --operator-credit-code, or --dev[/red]"
            )
            raise typer.Exit(2)
        operator = Account.from_key(raw_key)
        try:
            code = parse_credit_code(operator_credit_code)
        except InvalidIdentifier as exc:
            console.print(f"[red]{exc.code}[/red]: {exc}")
            raise typer.Exit(2) from exc
    client = ChainClient.connect(rpc)
    deployment = deploy_suite(client, operator, SuiteParams(operator_credit_code=code))
    deployment.write(out)
    console.print(f"deployed to chain {deployment.chain_id}; manifest written to {out}")
    typer.echo(json.dumps(deployment.contracts, indent=2))


@app.command("consortium-config")
def consortium_config(
    out: Annotated[Path, typer.Option(help="Directory to write the configuration into.")],
    validators: Annotated[int, typer.Option(help="QBFT validators (4 or more tolerate a fault).")] = 4,
    chain_id: Annotated[int, typer.Option(help="Chain id of the consortium chain.")] = 2026,
    block_period: Annotated[int, typer.Option(help="Seconds between blocks.")] = 2,
    request_timeout: Annotated[int, typer.Option(help="Seconds before a QBFT round change.")] = 4,
    operator: Annotated[
        str | None, typer.Option(help="Existing operator address (key kept in custody); else one is made.")
    ] = None,
    allow_account: Annotated[
        list[str] | None, typer.Option(help="Another address for the accounts allowlist, repeatable.")
    ] = None,
    besu_image: Annotated[str | None, typer.Option(help="Besu Docker image, pinned by version.")] = None,
    force: Annotated[bool, typer.Option(help="Replace a previous configuration, keys and data too.")] = False,
) -> None:
    """Generate a Besu QBFT consortium (genesis, keys, permissioning, compose) and scfnet's settings."""
    from scripts.consortium import (
        BESU_IMAGE,
        ConsortiumError,
        ConsortiumOptions,
        fault_tolerance_note,
        generate,
    )

    options = ConsortiumOptions(
        validators=validators,
        out=out,
        chain_id=chain_id,
        block_period_s=block_period,
        request_timeout_s=request_timeout,
        operator=operator,
        allow_accounts=tuple(allow_account or ()),
        besu_image=besu_image or BESU_IMAGE,
        force=force,
    )
    try:
        result = generate(options)
    except ConsortiumError as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    console.print(f"chain {result.chain_id}: {fault_tolerance_note(len(result.validators))}", soft_wrap=True)
    for v in result.validators:
        console.print(f"  {v.name} {v.address}", soft_wrap=True)
    console.print(f"operator {result.operator}; JSON-RPC for scfnet {result.rpc_url}", soft_wrap=True)
    if result.operator_key_file is not None:
        console.print(
            f"[yellow]operator key written to {result.operator_key_file}: move it into custody[/yellow]",
            soft_wrap=True,
        )
    console.print(f"written to {result.out}; start with its README.md", soft_wrap=True)


@app.command()
def up(
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the network keeps its state (env SCF_DATA_DIR; default .data).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="TOML settings file (env SCF_CONFIG; default DATA_DIR/scfnet.toml if it exists)."),
    ] = None,
    chain: Annotated[
        str | None, typer.Option(help="embedded or anvil (env SCF_CHAIN; default embedded).")
    ] = None,
    rpc: Annotated[
        str | None, typer.Option(help="Use an existing chain at this JSON-RPC URL (env SCF_RPC_URL).")
    ] = None,
    node_port: Annotated[
        int | None, typer.Option(help="Port of the embedded node or anvil (env SCF_NODE_PORT; default 8545).")
    ] = None,
    mqtt: Annotated[
        str | None,
        typer.Option(help="Use an existing MQTT broker, mqtt://user:pw@host:port (env SCF_MQTT_URL)."),
    ] = None,
    mqtt_port: Annotated[
        int | None, typer.Option(help="Port of the embedded MQTT broker (env SCF_MQTT_PORT; default 1883).")
    ] = None,
    gateway_port: Annotated[
        int | None,
        typer.Option(
            help="Port of the gateway's health/metrics endpoint (env SCF_GATEWAY_PORT; default 8680)."
        ),
    ] = None,
    oracles: Annotated[
        int | None, typer.Option(help="Oracle nodes, 0 or at least 3 (env SCF_ORACLES; default 3).")
    ] = None,
    oracle_port: Annotated[
        int | None,
        typer.Option(
            help="Proof port of oracle node 0, node i: +i; 0 any (env SCF_ORACLE_PORT; default 8700)."
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Interface the API listens on (env SCF_API_HOST; default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port of the API (env SCF_API_PORT; default 8000).")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="API database URL (env SCF_API_DATABASE_URL; default SQLite in the data dir)."),
    ] = None,
    dev: Annotated[
        bool | None,
        typer.Option(
            "--dev/--no-dev", help="Embedded node: dev methods such as evm_increaseTime [env SCF_DEV; no]."
        ),
    ] = None,
    demo_orgs: Annotated[
        bool | None,
        typer.Option(
            "--demo-orgs/--no-demo-orgs",
            help="Admit the reference scenario's cast on first start (env SCF_DEMO_ORGS; default yes).",
        ),
    ] = None,
) -> None:
    """Run the network: chain, contracts (deployed once), MQTT broker, IoT gateway, oracles, API.

    Every port 0 means any free one. Settings: flags > SCF_* environment > config file > defaults
    (README.md, "Configuration"). Ctrl-C stops it; running it again resumes.
    """
    import sys

    from pydantic import ValidationError

    root = logging.getLogger()
    if root.level > logging.DEBUG:  # the console shows progress and warnings; logs go to DATA_DIR/logs
        for handler in root.handlers:
            handler.setLevel(logging.WARNING)
            # amqtt logs every client that leaves without an MQTT packet (port probes) as an error.
            handler.addFilter(lambda record: not record.name.startswith("amqtt"))

    from scripts.config import load_settings
    from scripts.up import UpError, run

    flags = {
        "data_dir": data_dir,
        "chain": chain,
        "rpc_url": rpc,
        "node_port": node_port,
        "mqtt_url": mqtt,
        "mqtt_port": mqtt_port,
        "gateway_port": gateway_port,
        "oracles": oracles,
        "oracle_port": oracle_port,
        "api_host": host,
        "api_port": port,
        "api_database_url": database_url,
        "demo_orgs": demo_orgs,
        "dev": dev,
    }
    try:
        settings = load_settings(flags, config)
    except (ValidationError, OSError, ValueError) as exc:
        console.print(f"[red]invalid settings[/red]: {exc}")
        raise typer.Exit(2) from exc
    try:
        run(settings, console=console, out=sys.stdout)
    except UpError as exc:
        console.print(f"[red]scf up failed[/red]: {exc}")
        raise typer.Exit(1) from exc


@app.command()
def status(
    data_dir: Annotated[
        Path, typer.Option(help="The network's data directory.", envvar="SCF_DATA_DIR")
    ] = Path(".data"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Health of each service of the network `scf up` runs from DATA_DIR; exit 1 unless all are ready."""
    from scripts.status import report

    raise typer.Exit(report(data_dir, as_json=as_json))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def demo(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="A network `scf up` runs from here; else one is started (and stopped) for the demo."
        ),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="The API's database, for step 12's tampering [SQLite in the data dir].")
    ] = None,
) -> None:
    """Run the reference story (shared/SCENARIO.md), all 12 steps, through the API and MQTT.

    Other options go to the `scf up` it starts, e.g. `scf demo --chain anvil --mqtt mqtt://127.0.0.1:1883`.
    Exits 1 if any step's outcome differs from the story, 2 if there is no network to run it on.
    """
    from scripts.demo import main

    raise typer.Exit(main(data_dir, list(ctx.args), database_url, Console(highlight=False, soft_wrap=True)))


@app.command("node")
def node(
    host: Annotated[str | None, typer.Option(help="Interface to listen on [env SCF_NODE_HOST].")] = None,
    port: Annotated[
        int | None, typer.Option(help="HTTP and WebSocket port, 0 for any free one [env SCF_NODE_PORT].")
    ] = None,
    chain_id: Annotated[int | None, typer.Option(help="Chain id [env SCF_NODE_CHAIN_ID].")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where blocks and state are kept [env SCF_NODE_DATA_DIR].")
    ] = None,
    dev: Annotated[
        bool | None,
        typer.Option("--dev/--no-dev", help="Dev accounts, eth_sendTransaction, evm_* [env SCF_NODE_DEV]."),
    ] = None,
    mining_interval: Annotated[
        float | None,
        typer.Option(
            help="Seconds between blocks; 0 mines a block per transaction [env SCF_NODE_MINING_INTERVAL_S]."
        ),
    ] = None,
    operator: Annotated[
        str | None,
        typer.Option(
            help="Operator address: funded at genesis, always allowed [env SCF_NODE_OPERATOR_ADDRESS]."
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            help="MemberRegistry address; its active members may transact [env SCF_NODE_REGISTRY_ADDRESS]."
        ),
    ] = None,
) -> None:
    """Run the embedded permissioned node (JSON-RPC over HTTP and WebSocket) until interrupted."""
    from pydantic import ValidationError

    from node.server import serve
    from node.settings import NodeSettings

    given = {
        "host": host,
        "port": port,
        "chain_id": chain_id,
        "data_dir": data_dir,
        "dev": dev,
        "mining_interval_s": mining_interval,
        "operator_address": operator,
        "registry_address": registry,
    }
    try:
        settings = NodeSettings(**{key: value for key, value in given.items() if value is not None})
    except ValidationError as exc:
        console.print(f"[red]invalid node settings[/red]: {exc}")
        raise typer.Exit(2) from exc
    serve(settings)


@app.command("api")
def api(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free one).")] = 8000,
    processes: Annotated[
        int | None, typer.Option(help="Request processes on the port (SCF_API_REQUEST_PROCESSES; default 1).")
    ] = None,
    workers_only: Annotated[
        bool, typer.Option("--workers-only", help="Only the relay, indexer and notifier; no HTTP.")
    ] = False,
    no_workers: Annotated[
        bool, typer.Option("--no-workers", help="Only HTTP; the workers run in another process or machine.")
    ] = False,
) -> None:
    """Run the members' API: request processes and a worker process (relay, indexer, notifier).

    Settings come from SCF_API_* (see api/settings.py). The relay and the indexer each run in one
    process per database at a time (a database lease): start as many `scf api` as you like on one
    database, the extra workers stand by and take over within SCF_API_WORKER_LEASE_S of a crash.
    """
    from pydantic import ValidationError

    from api.serve import serve
    from api.settings import ApiSettings

    if workers_only and no_workers:
        console.print("[red]--workers-only and --no-workers exclude each other[/red]")
        raise typer.Exit(2)
    try:
        settings = ApiSettings()
    except ValidationError as exc:
        console.print(f"[red]invalid API settings[/red]: {exc}")
        raise typer.Exit(2) from exc
    serve(
        settings,
        host=host,
        port=port,
        processes=processes or settings.request_processes,
        workers=not no_workers,
        serve_requests=not workers_only,
    )


@devices_app.command("simulate")
def devices_simulate(
    lot: Annotated[str, typer.Option(help="Lot label; devices are named <lot>-dev-<i>.")] = "LOT-1",
    devices: Annotated[int, typer.Option(help="How many devices.", min=1, max=16)] = 3,
    rate: Annotated[float, typer.Option(help="Readings per second per device.", min=0.0)] = 1.0,
    duration: Annotated[
        float | None, typer.Option(help="Seconds to run (default: until interrupted).", min=0.0)
    ] = None,
    count: Annotated[int | None, typer.Option(help="Readings per device, then stop.", min=1)] = None,
    broker: Annotated[
        str,
        typer.Option(help="mqtt://host:port of the broker.", envvar="SCF_DEVICES_BROKER_URL"),
    ] = "mqtt://127.0.0.1:1883",
    anomaly: Annotated[
        list[str] | None,
        typer.Option(
            help="KIND[=VALUE][@SECONDS][#DEVICE], repeatable; KIND: weight_drop, door, temp, offline, "
            "forged, replay (e.g. weight_drop=15@10#0)."
        ),
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option(help='JSON {"device": "0x<key>"}; default: development keys.')
    ] = None,
    dev_passwords: Annotated[
        bool,
        typer.Option(help="Log in as each device with its development password (Mosquitto with an ACL)."),
    ] = False,
    show: Annotated[
        bool, typer.Option(help="Print the lot id and device ids/key addresses to register, and exit.")
    ] = False,
) -> None:
    """Publish signed readings of N devices on a lot, with injectable anomalies."""
    from iot_gateway.broker import BrokerAddress
    from iot_gateway.errors import GatewayError
    from iot_gateway.simulator import (
        Anomaly,
        Simulator,
        dev_device_password,
        dev_lot_id,
        load_keys,
        make_devices,
    )

    try:
        keys = load_keys(key_file) if key_file else None
        sims = make_devices(lot, devices, keys=keys)
        anomalies = [Anomaly.parse(spec) for spec in anomaly or []]
        address = BrokerAddress.parse(broker)
    except (GatewayError, ValueError, OSError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if show:
        body = {
            "lotId": "0x" + dev_lot_id(lot).hex(),
            "devices": [
                {"name": d.name, "deviceId": "0x" + d.device_id.hex(), "key": d.key.address} for d in sims
            ],
        }
        typer.echo(json.dumps(body, indent=2))
        return
    passwords = {d.name: dev_device_password(d.name) for d in sims} if dev_passwords else None
    simulator = Simulator(sims, address, rate_hz=rate, anomalies=anomalies, passwords=passwords)
    console.print(f"simulating {len(sims)} devices of {lot} at {rate}/s each -> {address.url}")
    try:
        sent = simulator.run(duration_s=duration, count=count)
    except KeyboardInterrupt:
        simulator.stop()
        sent = simulator.published
    console.print(f"published {sent} readings")


oracle_app = typer.Typer(help="Goods oracle nodes.", no_args_is_help=True)
app.add_typer(oracle_app, name="oracle")


@oracle_app.command("run")
def oracle_run(
    node_index: Annotated[
        int | None, typer.Option(help="This node's index (env SCF_ORACLE_NODE_INDEX).")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option(help="File with the node's hex key (env SCF_ORACLE_KEY(_FILE)).")
    ] = None,
    broker: Annotated[str | None, typer.Option(help="mqtt://host:port (env SCF_ORACLE_BROKER_URL).")] = None,
    rpc: Annotated[str | None, typer.Option(help="Chain JSON-RPC URL (env SCF_ORACLE_RPC_URL).")] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="Deployment manifest (env SCF_ORACLE_MANIFEST_PATH).")
    ] = None,
    round_length: Annotated[
        int | None, typer.Option(help="Round length in seconds (env SCF_ORACLE_ROUND_LENGTH_S).")
    ] = None,
    rules_file: Annotated[Path | None, typer.Option(help="Rules file (env SCF_ORACLE_RULES_FILE).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Database directory (env SCF_ORACLE_DATA_DIR).")
    ] = None,
    http_port: Annotated[
        int | None, typer.Option(help="Proof endpoint port, 0 for any (env SCF_ORACLE_HTTP_PORT).")
    ] = None,
) -> None:
    """Run one goods-oracle node until interrupted (other settings: SCF_ORACLE_* variables)."""
    from pydantic import ValidationError

    from oracle.errors import OracleError
    from oracle.runner import serve
    from oracle.settings import OracleSettings

    given = {
        "node_index": node_index,
        "key_file": key_file,
        "broker_url": broker,
        "rpc_url": rpc,
        "manifest_path": manifest,
        "round_length_s": round_length,
        "rules_file": rules_file,
        "data_dir": data_dir,
        "http_port": http_port,
    }
    try:
        settings = OracleSettings(**{key: value for key, value in given.items() if value is not None})
        settings.account()
    except (ValidationError, OracleError) as exc:
        console.print(f"[red]invalid oracle settings[/red]: {exc}")
        raise typer.Exit(2) from exc
    serve(settings)


def _emit(name: str, result: dict[str, object], as_json: bool) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            typer.echo(f"{key:34} {value}")


@bench_app.command("api")
def bench_api(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    invoices: Annotated[int, typer.Option(help="Invoices per chain (multiple of 100 x clients).")] = 1600,
    clients: Annotated[int, typer.Option(help="Concurrent uploading suppliers.")] = 4,
    processes: Annotated[int, typer.Option(help="API request processes (plus one worker process).")] = 2,
) -> None:
    """API end to end over HTTP: invoice throughput (embedded node, anvil), financing p95, GET p99."""
    from bench.api_bench import run

    _emit("api", run(invoices=invoices, clients=clients, processes=processes), as_json)


@bench_app.command("gas")
def bench_gas(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Gas of each operation next to OpenZeppelin 5 yardsticks (same chain, same compiler)."""
    from bench.gas import evaluate, measure

    gas = measure()
    _emit("gas", dict(gas), as_json)
    for key, verdict in evaluate(gas).items():
        mark = "[green]met[/green]" if verdict["met"] else "[red]MISSED[/red]"
        console.print(
            f"{key}: {verdict['value']} <= {verdict['limit']:.0f} ({verdict['ratio_to_base']}x): {mark}"
        )


@bench_app.command("iot")
def bench_iot(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    readings: Annotated[
        int,
        typer.Option(help="Signed readings through the whole path (a long run: sustained rate).", min=100),
    ] = 30_000,
    devices: Annotated[
        int, typer.Option(help="Devices of the lot (1-16), one MQTT connection each.", min=1, max=16)
    ] = 16,
    rate: Annotated[float, typer.Option(help="Publishing schedule, readings per second.", min=1)] = 2500.0,
) -> None:
    """Devices -> Mosquitto (ACL) -> gateway -> 3 oracles -> anchored root: readings/s, alert p95, gas."""
    from bench.iot_bench import run

    result = run(readings, devices, rate=rate)
    _emit("iot", dict(result), as_json)
    per_s, p95 = result["readings_per_s"], result["alert_latency_p95_ms"]
    verdicts = (("readings_per_s", per_s >= 2000), ("alert_latency_p95_ms", p95 is not None and p95 <= 3000))
    for key, met in verdicts:
        mark = "[green]met[/green]" if met else "[red]MISSED[/red]"
        console.print(f"{key}: {result[key]} {result['targets'][key]}: {mark}")


@bench_app.command("node")
def bench_node(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    count: Annotated[int, typer.Option(help="Registrations per throughput measurement.", min=10)] = 1000,
    txs: Annotated[
        int,
        typer.Option(
            help="Grow the node's chain to this many registrations, then time a restart (0: skip).", min=0
        ),
    ] = 0,
) -> None:
    """Embedded node vs plain eth-tester vs anvil on invoice registration; restart time and RSS at --txs."""
    from bench.node_bench import run

    result = run(count, txs)
    _emit("node", dict(result), as_json)
    ratio = result["ratio_node_vs_raw"]
    mark = "[green]met[/green]" if isinstance(ratio, float) and ratio >= 1.5 else "[red]MISSED[/red]"
    console.print(f"ratio_node_vs_raw: {ratio} >= 1.5: {mark}")


@bench_app.command("summary")
def bench_summary() -> None:
    """Write bench/results/summary.md: the latest figures of every benchmark next to their targets."""
    from bench.summary import write

    out = write()
    typer.echo(out.read_text())


if __name__ == "__main__":
    app()
