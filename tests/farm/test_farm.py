"""The farm tier: real services on this machine, as a pipeline TD runs them (`make test-farm`).

    prefect server start            its own PREFECT_HOME, a free loopback port, the UI
    ray start --head                1 CPU, no GPU; token auth
    ray start --address             1 CPU, declares num_gpus=1 and void_gpu=1 (the "GPU node";
                                    it has no GPU, so VOID's tiny model runs on its CPU)
    PostgreSQL                      lineage, in a schema of its own

Then `void-farm serve` watches a drop folder: a cut list dropped there is run (awaited through
the Prefect API); `void-farm run --ray-address` runs a second cut list with the VOID engine.
The farm config sends every inpaint stage to the void_gpu node: lineage must say they ran
there. Headless Chromium takes screenshots of the run and of its QC artifact (PNGs under
.ci/out/), checking that the inline QC images loaded. Every service is stopped afterwards,
failure or not, by the id it was started with; the teardown fails if any process was left.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from conftest import skip_unless_required
from void_core.qc import STRIP_MAX_BYTES
from farm_services import (
    TAG_VARIABLE, Service, free_port, new_tag, start, sweep, tagged_processes, wait_until,
)

pytestmark = pytest.mark.farm

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCREENSHOTS = ROOT / ".ci" / "out"
PG_URL = os.environ.get("VOID_FARM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CHROMIUM = os.environ.get("VOID_FARM_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
WIDTH, HEIGHT, FRAMES = 96, 64, 8
RUN_TIMEOUT = 900.0  # a run on the two 1-CPU nodes of a busy 2-core machine
CONFIG = """
[inpaint.void]
device = "cpu"                              # the "GPU node" has no GPU: the tiny model on its CPU

[ray.resources]
inpaint = { num_gpus = 1, void_gpu = 1 }    # every inpaint stage on the void_gpu node

[limits]
gemini-api = 2
"""


@dataclass
class Farm:
    root: Path
    env: dict
    api: str  # http://127.0.0.1:PORT/api
    ray_address: str
    gpu_node: str  # the Ray node id of the void_gpu node
    head_node: str
    db_url: str
    schema: str
    services: list[Service]


def _base_env(tag: str, token: str) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PREFECT_", "RAY_")) and key not in ("VOID_FARM_DB",)}
    env.update({TAG_VARIABLE: tag, "DO_NOT_TRACK": "1", "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN": token, "RAY_USAGE_STATS_ENABLED": "0",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))})
    return env


def _node_ports() -> list[str]:
    """Ports Ray would otherwise take by default number: two nodes on one machine collide."""
    return [f"--{name}-port={free_port()}" for name in (
        "node-manager", "object-manager", "dashboard-agent-listen", "dashboard-agent-grpc",
        "runtime-env-agent", "metrics-export")]


def _ray_node(name: str, arguments: list[str], env: dict, logs: Path) -> Service:
    command = [str(BIN / "ray"), "start", "--block", "--node-ip-address=127.0.0.1",
               "--num-cpus=1", "--object-store-memory=200000000", "--disable-usage-stats",
               *arguments, *_node_ports()]
    node = start(name, command, env, logs)
    wait_until(lambda: "Ray runtime started" in node.log.read_text(errors="replace"), 180,
               f"{name} to start", node)
    return node


def _ray_nodes(address: str, env: dict) -> list[dict]:
    """The cluster's live nodes, asked by a driver holding the cluster's token."""
    script = ("import json, ray; ray.init(address=%r, logging_level='ERROR'); "
              "print(json.dumps([{'id': n['NodeID'], 'resources': n['Resources']} "
              "for n in ray.nodes() if n['Alive']])); ray.shutdown()" % address)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _check_postgres() -> None:
    engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as err:
        skip_unless_required(f"PostgreSQL not reachable for the farm tier: {err.orig}")
    finally:
        engine.dispose()


def _in_schema(url: str, schema: str) -> str:
    """`url` whose connections search `schema` first (the URL may carry a socket `host` query)."""
    parsed = sa.make_url(url)
    options = {**parsed.query, "options": f"-csearch_path={schema}"}
    return parsed.set(query=options).render_as_string(hide_password=False)


def _pg(statement: str) -> None:
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    _check_postgres()
    if not Path(CHROMIUM).exists():
        skip_unless_required(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    tag, root = new_tag(), tmp_path_factory.mktemp("farm")
    logs = root / "logs"
    env = _base_env(tag, secrets.token_hex(32))
    schema = f"farm_{tag.replace('-', '_')}"
    services: list[Service] = []
    try:
        port = free_port()
        api = f"http://127.0.0.1:{port}/api"
        # The UI asks the API at PREFECT_UI_API_URL (default port 4200): point it at this one.
        server_env = {**env, "PREFECT_HOME": str(root / "prefect-home"),
                      "PREFECT_UI_API_URL": api}
        services.append(start("prefect-server", [str(BIN / "prefect"), "server", "start",
                                                 "--host", "127.0.0.1", "--port", str(port)],
                              server_env, logs))
        wait_until(lambda: _healthy(api), 240, "the Prefect server", services[-1], every=1.0)
        ray_port = free_port()
        services.append(_ray_node("ray-head", ["--head", f"--port={ray_port}", "--num-gpus=0",
                                               "--include-dashboard=false",
                                               f"--ray-client-server-port={free_port()}"],
                                  env, logs))
        address = _gcs_address(services[-1])
        services.append(_ray_node("ray-gpu-node", [f"--address={address}", "--num-gpus=1",
                                                   '--resources={"void_gpu": 1}'], env, logs))
        nodes = wait_until(lambda: (found := _ray_nodes(address, env)) and len(found) == 2
                           and found, 120, "two live Ray nodes")
        gpu = next(n["id"] for n in nodes if n["resources"].get("void_gpu"))
        head = next(n["id"] for n in nodes if n["id"] != gpu)
        _pg(f'CREATE SCHEMA "{schema}"')
        env = {**env, "PREFECT_API_URL": api, "PREFECT_HOME": str(root / "client-home")}
        yield Farm(root, env, api, address, gpu, head, _in_schema(PG_URL, schema), schema,
                   services)
    finally:
        for service in reversed(services):
            service.stop()
        leftovers = sweep(tag)
        try:
            _pg(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except sa.exc.SQLAlchemyError:
            pass
        assert not leftovers, f"processes outlived their services: {leftovers}"
        assert not tagged_processes(tag)


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _gcs_address(head: Service) -> str:
    """HOST:PORT the head printed (Ray turns 127.0.0.1 into the machine's address)."""
    found = re.search(r"ray start --address='([^']+)'", head.log.read_text(errors="replace"))
    if found is None:
        raise AssertionError(f"the Ray head printed no address:\n{head.tail()}")
    return found.group(1)


# --- scenes, cut lists, the Prefect API ------------------------------------------------------


def _cutlist(root: Path, name: str, seeds: tuple[int, ...]) -> Path:
    from void_core.synth import SceneSpec, write_scene
    from void_core.synth.cutlist import write_synthetic_cutlist

    media = root / f"media-{name}"
    scenes = [write_scene(SceneSpec(name=f"sh{10 * (i + 1):03d}", width=WIDTH, height=HEIGHT,
                                    frames=FRAMES, shadow=True, seed=seed),
                          media / f"sh{10 * (i + 1):03d}", mask_name="ground_truth_mask.mp4")
              for i, seed in enumerate(seeds)]
    return write_synthetic_cutlist(scenes, root / "staging" / f"{name}.otio")


def _post(farm: Farm, path: str, body: dict) -> list[dict]:
    response = httpx.post(f"{farm.api}{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def _flow_runs(farm: Farm, flow_name: str) -> list[dict]:
    return _post(farm, "/flow_runs/filter",
                 {"flows": {"name": {"any_": [flow_name]}}, "sort": "EXPECTED_START_TIME_DESC"})


def _finished(run: dict) -> bool:
    return run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _artifact(farm: Farm, key: str) -> dict:
    [artifact] = _post(farm, "/artifacts/filter", {"artifacts": {"key": {"any_": [key]}},
                                                   "sort": "CREATED_DESC", "limit": 1})
    return artifact


def _stage_rows(farm: Farm, run_name: str) -> list[dict]:
    engine = sa.create_engine(farm.db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT shot.name AS shot, stage_run.stage, stage_run.status, stage_run.engine, "
                "stage_run.node_id, stage_run.hostname, stage_run.gpu_name FROM stage_run "
                "JOIN shot ON shot.id = stage_run.shot_id JOIN run ON run.id = shot.run_id "
                "WHERE run.name = :name"), {"name": run_name}).mappings().all()
    finally:
        engine.dispose()
    return [dict(row) for row in rows]


def _assert_placed(farm: Farm, run_name: str, shots: int, engine: str) -> None:
    rows = _stage_rows(farm, run_name)
    inpaint = [row for row in rows if row["stage"] == "inpaint"]
    assert len(inpaint) == shots and all(row["status"] == "succeeded" for row in inpaint), rows
    assert {row["engine"] for row in inpaint} == {engine}
    assert {row["node_id"] for row in inpaint} == {farm.gpu_node}, \
        "inpaint asks for void_gpu: only the GPU node has it"
    # The GPU Ray gave the stage: "GPU 0" (its id) here, where no CUDA device can name it.
    assert all(row["gpu_name"] for row in inpaint), inpaint
    assert all(row["node_id"] in (farm.head_node, farm.gpu_node) and row["hostname"]
               for row in rows), rows


def _assert_outputs(out: Path, name: str, shots: int) -> None:
    assert len(list(out.glob("sh0[1-9]0/*.exr"))) == shots * FRAMES
    strips = sorted((out / "qc").glob("*_strip.jpg"))
    assert len(strips) == shots
    assert all(0 < strip.stat().st_size <= STRIP_MAX_BYTES for strip in strips)
    assert (out / f"{name}.conformed.otio").is_file()


# --- the tier --------------------------------------------------------------------------------


def test_the_farm_runs_where_only_loopback_exists():
    """`make test-farm` runs the tier in a network namespace of its own (tests/farm/isolated):
    Ray listens on every interface, so the only way to keep it on loopback is to have no other."""
    if not os.environ.get("VOID_FARM_ISOLATED"):
        skip_unless_required("the farm tier is not isolated (run it through tests/farm/isolated "
                             "as root)")
    assert [name for _, name in socket.if_nameindex()] == ["lo"]


def test_a_cut_list_dropped_into_the_served_folder_runs_on_the_farm(farm):
    drop, out = farm.root / "drop", farm.root / "out-drop"
    drop.mkdir()
    config = farm.root / "void-farm.toml"
    config.write_text(CONFIG)
    serve = start("void-farm-serve", [
        str(BIN / "void-farm"), "serve", "--watch", str(drop), "--out", str(out),
        "--db", farm.db_url, "--ray-address", farm.ray_address, "--config", str(config),
        "--poll-seconds", "1", "--name", "farm-tier"], farm.env, farm.root / "logs")
    farm.services.append(serve)
    wait_until(lambda: "watching" in serve.log.read_text(errors="replace"), 240,
               "void-farm serve to watch", serve)
    time.sleep(3)  # the deployments register before the first event
    staged = _cutlist(farm.root, "reel-drop", (1, 2))
    os.replace(staged, drop / staged.name)

    landed = wait_until(lambda: [r for r in _flow_runs(farm, "cleanup-landed-cutlist")
                                 if _finished(r)], RUN_TIMEOUT, "the triggered run", serve,
                        every=3.0)[0]
    assert landed["state_type"] == "COMPLETED", f"{landed['state_name']}:\n{serve.tail(80)}"
    assert landed["name"] == "reel-drop.otio"
    [cleanup] = [r for r in _flow_runs(farm, "cleanup-cutlist")
                 if r["parent_task_run_id"] and r["name"] == "reel-drop"]
    assert cleanup["state_type"] == "COMPLETED"
    _assert_placed(farm, "reel-drop", 2, "classical")
    _assert_outputs(out, "reel-drop", 2)
    qc = _artifact(farm, "reel-drop-qc")
    assert qc["data"].count("](data:image/jpeg;base64,") == 2
    table = _artifact(farm, "reel-drop-shots")
    assert farm.gpu_node[:8] in json.dumps(table["data"])  # where inpaint ran, per shot
    serve.stop()
    assert not serve.alive()
    _screenshots(farm, cleanup, qc)


def test_run_attached_to_the_cluster_places_void_on_the_gpu_node(farm):
    from void_core.inpaint.void.tiny import make_tiny_model_dir

    model = make_tiny_model_dir(farm.root / "void-tiny")
    cutlist = _cutlist(farm.root, "reel-run", (3, 4))
    config = farm.root / "void-farm.toml"
    config.write_text(CONFIG)
    out = farm.root / "out-run"
    result = subprocess.run(
        [str(BIN / "void-farm"), "run", str(cutlist), "--out", str(out), "--engine", "void",
         "--model-dir", str(model), "--config", str(config), "--db", farm.db_url,
         "--ray-address", farm.ray_address, "--max-shots-in-flight", "1", "--json"],
        env=farm.env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert (summary["succeeded"], summary["failed"]) == (2, 0)
    assert summary["engine_hosts"]["inpaint"]["shots_served"] == 2  # resident on the GPU node
    _assert_placed(farm, "reel-run", 2, "void")
    _assert_outputs(out, "reel-run", 2)
    assert _artifact(farm, "reel-run-qc")["data"].count("data:image/jpeg;base64,") == 2


def _screenshots(farm: Farm, flow_run: dict, qc: dict) -> None:
    """The run's page and its QC artifact in headless Chromium; the QC images must load."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ui = farm.api.removesuffix("/api")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{ui}/runs/flow-run/{flow_run['id']}", wait_until="networkidle",
                      timeout=120_000)
            page.get_by_text("Completed").first.wait_for(timeout=120_000)
            page.wait_for_timeout(5_000)  # the run graph is a canvas: let it draw
            run_text = page.inner_text("body")
            page.screenshot(path=str(SCREENSHOTS / "farm-flow-run.png"), full_page=True)

            page.set_viewport_size({"width": 1600, "height": 2200})  # every shot's strip
            page.goto(f"{ui}/artifacts/artifact/{qc['id']}", wait_until="networkidle",
                      timeout=120_000)
            page.locator("img[src^='data:image/jpeg']").first.wait_for(timeout=120_000)
            widths = page.eval_on_selector_all(
                "img[src^='data:image/jpeg']",
                "images => Promise.all(images.map(i => i.decode().then(() => i.naturalWidth, "
                "() => 0)))")
            page.screenshot(path=str(SCREENSHOTS / "farm-qc-artifact.png"), full_page=True)
        finally:
            browser.close()
    assert "reel-drop" in run_text and "Task runs" in run_text, run_text[:2000]
    assert len(widths) == 2 and all(width > 0 for width in widths), widths
