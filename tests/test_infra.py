"""infra/: the deployment files are checked with the tools that will read them, offline.

- Ray cluster-launcher configs: Ray's shipped JSON schema, then Ray's own `prepare_config` +
  `validate_config` (what `ray up` runs before it talks to a provider).
- `void-farm-ray-node` (infra/ray/ray-node.sh): run for real against stand-in `ray` and
  `nvidia-smi` executables that record what they were given.
- KubeRay manifest: the structure the operator needs, rayVersion matching the installed Ray.
- compose file: services, health checks, depends_on and URLs agree with each other; the
  PostgreSQL init scripts run against the real PostgreSQL the lineage tests use.
- prefect.yaml: Prefect's own models after the same templating `prefect deploy` applies; the
  entrypoints name flows that exist; the trigger matches the event the watcher emits.
No network, no docker.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import uuid
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from conftest import skip_unless_required

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
CLUSTER_CONFIGS = ["ray/cluster.yaml", "ray/cluster-aws.yaml"]
RAY_NODE = INFRA / "ray" / "ray-node.sh"
PG_URL = os.environ.get("VOID_FARM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def load(relative: str):
    return yaml.safe_load((INFRA / relative).read_text())


# ---------------------------------------------------------------------------------- all YAML

def test_every_yaml_file_under_infra_parses_to_mappings():
    files = sorted(INFRA.rglob("*.yaml"))
    assert {f.relative_to(INFRA).as_posix() for f in files} >= {
        "compose.yaml", "prefect.yaml", "ray/cluster.yaml", "ray/cluster-aws.yaml",
        "kuberay/raycluster.yaml"}
    for path in files:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert documents, f"{path} is empty"
        assert all(isinstance(d, dict) for d in documents), path


# -------------------------------------------------------------------------- Ray cluster launcher

@pytest.mark.parametrize("relative", CLUSTER_CONFIGS)
def test_cluster_config_validates_against_rays_shipped_schema(relative):
    import jsonschema
    import ray.autoscaler

    schema_path = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
    jsonschema.validate(load(relative), json.loads(schema_path.read_text()))


@pytest.mark.parametrize("relative", CLUSTER_CONFIGS)
def test_cluster_config_passes_rays_own_preparation_and_validation(relative):
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(load(relative))  # the local provider aborts on unsupported fields
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]


def test_on_prem_cluster_runs_the_image_with_gpus_on_workers_only():
    config = load("ray/cluster.yaml")
    assert config["provider"]["type"] == "local"
    assert config["provider"]["worker_ips"] and config["provider"]["head_ip"]
    docker = config["docker"]
    assert "--gpus all" in docker["worker_run_options"]
    assert not any("--gpus" in option for option in docker["run_options"])
    assert config["head_start_ray_commands"][-1].startswith("void-farm-ray-node head")
    assert config["worker_start_ray_commands"][-1].startswith(
        "void-farm-ray-node worker $RAY_HEAD_IP:")


@pytest.mark.parametrize("relative", CLUSTER_CONFIGS)
def test_cluster_secrets_lie_in_a_file_mount_and_storage_is_mounted(relative):
    config = load(relative)
    options = " ".join(config["docker"]["run_options"])
    token_path = PurePosixPath(re.search(r"--env RAY_AUTH_TOKEN_PATH=(\S+)", options).group(1))
    assert "--env RAY_AUTH_MODE=token" in options
    pgpass = PurePosixPath(re.search(r"--env PGPASSFILE=(\S+)", options).group(1))
    for secret in (token_path, pgpass):
        assert any(secret.is_relative_to(mount) for mount in config["file_mounts"]), \
            f"{secret} must reach the nodes through file_mounts"
    assert any(token_path.as_posix() in command for command in config["setup_commands"]), \
        "setup checks the token arrived"
    spill = re.search(r"--env VOID_FARM_RAY_LOCAL=(\S+)", options).group(1)
    volumes = re.findall(r"--volume (\S+?):(\S+?)(?::ro)?(?= |$)", options)
    assert ("/shots", "/shots") in volumes, "shared storage at the same path everywhere"
    assert (spill, spill) in volumes, "the spill directory is a host (NVMe) directory"
    assert ("/models", "/models") in volumes


def test_aws_gpu_node_type_declares_void_gpu_and_the_head_no_gpu():
    config = load("ray/cluster-aws.yaml")
    types = config["available_node_types"]
    assert "GPU" not in types[config["head_node_type"]]["resources"]
    void_types = [t for t in types.values() if t["resources"].get("void_gpu")]
    assert void_types
    assert all(t["resources"]["void_gpu"] <= t["resources"]["GPU"] for t in void_types)


# ------------------------------------------------------------------------------- ray-node.sh

def _stand_ins(tmp_path: Path, gpu_memory_mib: list[int]) -> tuple[Path, Path]:
    """A `ray` that records its arguments and auth environment, and an `nvidia-smi`."""
    bin_dir, record = tmp_path / "bin", tmp_path / "ray-call.json"
    bin_dir.mkdir()
    (bin_dir / "ray").write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        f"json.dump({{'args': sys.argv[1:], 'mode': os.environ.get('RAY_AUTH_MODE'),"
        f" 'token_path': os.environ.get('RAY_AUTH_TOKEN_PATH')}}, open({str(record)!r}, 'w'))\n")
    lines = "".join(f"{mib}\n" for mib in gpu_memory_mib)
    (bin_dir / "nvidia-smi").write_text(f"#!/bin/sh\nprintf '{lines}'\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return bin_dir, record


def _run_ray_node(tmp_path: Path, bin_dir: Path, *args: str, token: bool = True):
    token_path = tmp_path / "auth" / "auth_token"
    if token:
        token_path.parent.mkdir(exist_ok=True)
        token_path.write_text("0123456789abcdef")
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path),
           "RAY_AUTH_TOKEN_PATH": str(token_path), "VOID_FARM_RAY_LOCAL": str(tmp_path / "nvme")}
    return subprocess.run(["bash", str(RAY_NODE), *args], env=env, capture_output=True,
                          text=True, timeout=30)


def test_ray_node_worker_counts_only_gpus_big_enough_for_void(tmp_path):
    bin_dir, record = _stand_ins(tmp_path, [81920, 24576, 46068])  # A100 80G, A10G, L40S
    done = _run_ray_node(tmp_path, bin_dir, "worker", "head01:6379", "--num-cpus=30")
    assert done.returncode == 0, done.stderr
    call = json.loads(record.read_text())
    assert call["args"][:2] == ["start", "--address=head01:6379"]
    resources = [a for a in call["args"] if a.startswith("--resources=")]
    assert [json.loads(r.split("=", 1)[1]) for r in resources] == [{"void_gpu": 2}]
    assert f"--object-spilling-directory={tmp_path / 'nvme' / 'spill'}" in call["args"]
    assert (tmp_path / "nvme" / "spill").is_dir()
    assert call["args"][-1] == "--num-cpus=30"  # extra options pass through
    assert call["mode"] == "token"
    assert call["token_path"] == str(tmp_path / "auth" / "auth_token")


def test_ray_node_head_without_gpus_declares_no_void_gpu(tmp_path):
    bin_dir, record = _stand_ins(tmp_path, [])
    done = _run_ray_node(tmp_path, bin_dir, "head", "--autoscaling-config=/tmp/cfg.yaml")
    assert done.returncode == 0, done.stderr
    args = json.loads(record.read_text())["args"]
    assert args[:3] == ["start", "--head", "--port=6379"]
    assert not any(a.startswith("--resources") for a in args)
    assert f"--temp-dir={tmp_path / 'nvme' / 'session'}" in args
    assert args[-1] == "--autoscaling-config=/tmp/cfg.yaml"


def test_ray_node_refuses_to_start_without_a_token(tmp_path):
    bin_dir, record = _stand_ins(tmp_path, [81920])
    done = _run_ray_node(tmp_path, bin_dir, "worker", "head01:6379", token=False)
    assert done.returncode == 1
    assert "no Ray auth token at" in done.stderr and "RAY_AUTH_TOKEN_PATH" in done.stderr
    assert not record.exists()


def test_ray_node_rejects_a_worker_without_the_head_address(tmp_path):
    bin_dir, record = _stand_ins(tmp_path, [])
    done = _run_ray_node(tmp_path, bin_dir, "worker")
    assert done.returncode == 2 and "usage:" in done.stderr
    assert not record.exists()


# ------------------------------------------------------------------------------------ KubeRay

def _kuberay_documents() -> list[dict]:
    text = (INFRA / "kuberay" / "raycluster.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d is not None]


def _ray_cluster() -> dict:
    clusters = [d for d in _kuberay_documents() if d.get("kind") == "RayCluster"]
    assert len(clusters) == 1
    return clusters[0]


def _containers(group: dict) -> list[dict]:
    return group["template"]["spec"]["containers"]


def test_raycluster_is_ray_io_v1_at_the_installed_ray_version_with_token_auth():
    cluster = _ray_cluster()
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["spec"]["rayVersion"] == version("ray")
    assert cluster["spec"]["authOptions"]["mode"] == "token"


def test_raycluster_head_is_cpu_only_and_a_worker_group_requests_gpus():
    spec = _ray_cluster()["spec"]
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-gpus"] == "0"
    assert all("nvidia.com/gpu" not in c["resources"].get("limits", {}) for c in _containers(head))
    gpu_groups = [g for g in spec["workerGroupSpecs"]
                  if any("nvidia.com/gpu" in c["resources"]["limits"] for c in _containers(g))]
    assert gpu_groups
    for group in gpu_groups:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        for container in _containers(group):
            limits, requests = container["resources"]["limits"], container["resources"]["requests"]
            gpus = limits["nvidia.com/gpu"]
            assert int(gpus) >= 1
            assert requests.get("nvidia.com/gpu", gpus) == gpus
        pod = group["template"]["spec"]
        assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
        assert pod["nodeSelector"]
        # KubeRay passes the value to `ray start --resources=` as is: a JSON string in quotes.
        resources = json.loads(json.loads(group["rayStartParams"]["resources"]))
        pod_gpus = int(_containers(group)[0]["resources"]["limits"]["nvidia.com/gpu"])
        assert 1 <= resources["void_gpu"] <= pod_gpus


def test_raycluster_volumes_are_declared_and_the_shared_claim_is_read_write_many():
    documents = _kuberay_documents()
    claims = {d["metadata"]["name"]: d for d in documents if d["kind"] == "PersistentVolumeClaim"}
    spec = _ray_cluster()["spec"]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    for group in groups:
        pod = group["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert set(mounts.values()) <= set(volumes), group.get("groupName", "head")
            shots = volumes[mounts["/shots"]]["persistentVolumeClaim"]["claimName"]
            assert "ReadWriteMany" in claims[shots]["spec"]["accessModes"]
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
        for container in pod["containers"]:
            env = {e["name"]: e for e in container["env"]}
            pgpass = PurePosixPath(env["PGPASSFILE"]["value"])
            holder = next(m for m in container["volumeMounts"]
                          if pgpass.is_relative_to(m["mountPath"]) and m["mountPath"] != "/")
            assert "secret" in volumes[holder["name"]], "the lineage password comes from a secret"
            key = env["GEMINI_API_KEY"]
            assert "value" not in key, "the Gemini key is never written in the manifest"
            assert key["valueFrom"]["secretKeyRef"]["optional"] is True
        spill = group["rayStartParams"]["object-spilling-directory"]
        spill_mount = next(m for c in pod["containers"] for m in c["volumeMounts"]
                           if PurePosixPath(spill).is_relative_to(m["mountPath"])
                           and m["mountPath"] != "/")
        assert "emptyDir" in volumes[spill_mount["name"]], "spilling stays on the node's disk"


# ------------------------------------------------------------------------------------ compose

def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} substitution."""
    def substitute(match: re.Match) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        value = env.get(name, "")
        if operator == ":?" and not value:
            raise KeyError(f"{name}: {argument}")
        if operator == ":-" and not value:
            return argument
        return value
    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", substitute, text)


COMPOSE_ENV = {"PREFECT_DB_PASSWORD": "pw1", "VOID_FARM_DB_PASSWORD": "pw2"}


def _compose(env: dict[str, str] = COMPOSE_ENV) -> dict:
    return yaml.safe_load(interpolate((INFRA / "compose.yaml").read_text(), env))


def test_compose_requires_the_prefect_database_password():
    with pytest.raises(KeyError, match="PREFECT_DB_PASSWORD"):
        _compose({})


def test_compose_prefect_server_matches_the_installed_prefect_and_is_told_not_to_phone_home():
    server = _compose()["services"]["prefect-server"]
    assert server["image"] == f"prefecthq/prefect:{version('prefect')}-python3.11", \
        "keep the server image at the version the flows' Prefect client has"
    command = server["command"]
    assert command[:3] == ["prefect", "server", "start"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert "--workers" not in command, "more than one API worker needs Redis (infra/README.md)"
    assert server["environment"]["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    port = command[command.index("--port") + 1]
    assert any(str(p).endswith(f":{port}") for p in server["ports"])
    assert f"127.0.0.1:{port}/api/health" in " ".join(server["healthcheck"]["test"])


def test_compose_database_url_names_a_healthy_postgres_service_it_waits_for():
    compose = _compose()
    services = compose["services"]
    server = services["prefect-server"]
    url = urlsplit(server["environment"]["PREFECT_SERVER_DATABASE_CONNECTION_URL"])
    assert url.scheme == "postgresql+asyncpg"
    database = services[url.hostname]
    environment = database["environment"]
    assert url.username == environment["POSTGRES_USER"]
    assert url.password == COMPOSE_ENV["PREFECT_DB_PASSWORD"]
    assert url.port == 5432 and url.path == "/" + environment["POSTGRES_DB"]
    assert int(re.match(r"postgres:(\d+)", database["image"]).group(1)) >= 15
    assert server["depends_on"][url.hostname]["condition"] == "service_healthy"
    for service in services.values():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services
            if rule.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], dependency
    assert environment["POSTGRES_USER"] in " ".join(database["healthcheck"]["test"])


def test_compose_volumes_are_declared_and_bind_mounts_exist():
    compose = _compose()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                assert (INFRA / source).exists(), f"{name}: {source}"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} not declared"
    postgres = compose["services"]["postgres"]
    init_mount = next(v for v in postgres["volumes"] if "/docker-entrypoint-initdb.d" in v)
    init_dir = INFRA / init_mount.split(":")[0]
    assert any("pg_trgm" in p.read_text() for p in init_dir.glob("*.sql"))


# ------------------------------------------------------- PostgreSQL init scripts, for real

@pytest.fixture(scope="module")
def pg_admin():
    import psycopg

    if shutil.which("psql") is None:
        skip_unless_required("psql (PostgreSQL's client) is not installed")
    url = urlsplit(PG_URL.replace("postgresql+psycopg", "postgresql"))
    params = dict(host=url.hostname, port=url.port or 5432, user=url.username,
                  dbname=url.path.lstrip("/"))
    try:
        psycopg.connect(**params, connect_timeout=3).close()
    except psycopg.OperationalError as err:
        skip_unless_required(f"PostgreSQL not reachable at {url.hostname}:{url.port}: {err}")
    return params


def _admin_query(pg_admin: dict, sql: str, *args, dbname: str | None = None):
    import psycopg

    with psycopg.connect(**{**pg_admin, "dbname": dbname or pg_admin["dbname"]},
                         autocommit=True) as connection:
        cursor = connection.execute(sql, args)
        return cursor.fetchall() if cursor.description else []


def _init_env(pg_admin: dict, **extra: str) -> dict[str, str]:
    """What the postgres image's entrypoint gives its init scripts, pointed at the test server."""
    return {**os.environ, "PGHOST": pg_admin["host"], "PGPORT": str(pg_admin["port"]),
            "POSTGRES_USER": pg_admin["user"], "POSTGRES_DB": pg_admin["dbname"], **extra}


def test_init_sql_creates_pg_trgm_in_the_database_it_runs_in(pg_admin):
    scratch = f"vf_infra_trgm_{uuid.uuid4().hex[:8]}"
    _admin_query(pg_admin, f'CREATE DATABASE "{scratch}"')
    try:
        sql = INFRA / "postgres" / "initdb" / "10-prefect-pg-trgm.sql"
        command = ["psql", "-v", "ON_ERROR_STOP=1", "-U", pg_admin["user"], "-d", scratch,
                   "-f", str(sql)]
        done = subprocess.run(command, env=_init_env(pg_admin), capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert _admin_query(pg_admin, "SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'",
                            dbname=scratch) == [("pg_trgm",)]
    finally:
        _admin_query(pg_admin, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def test_init_script_creates_a_lineage_database_void_farm_can_migrate(pg_admin):
    from sqlalchemy import inspect

    from void_core.lineage.db import create_lineage_engine, upgrade

    suffix = uuid.uuid4().hex[:8]
    user, database = f"vf_infra_{suffix}", f"vf_infra_db_{suffix}"
    password = "it's \"quoted\"; DROP ROLE x; --"
    script = INFRA / "postgres" / "initdb" / "20-void-farm-lineage.sh"
    try:
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60,
                              env=_init_env(pg_admin, VOID_FARM_DB_PASSWORD=password,
                                            VOID_FARM_DB_USER=user, VOID_FARM_DB_NAME=database))
        assert done.returncode == 0, done.stderr
        assert _admin_query(pg_admin, "SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid "
                            "WHERE rolname = %s", user) == [(True, True)]
        assert _admin_query(pg_admin, "SELECT pg_get_userbyid(datdba) FROM pg_database "
                            "WHERE datname = %s", database) == [(user,)]
        # The new role owns its database, so void-farm's migrations can create the schema there.
        engine = create_lineage_engine(
            f"postgresql+psycopg://{user}@{pg_admin['host']}:{pg_admin['port']}/{database}")
        try:
            upgrade(engine)
            tables = set(inspect(engine).get_table_names())
            assert {"run", "shot", "stage_run", "artifact"} <= tables
        finally:
            engine.dispose()
    finally:
        _admin_query(pg_admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        _admin_query(pg_admin, f'DROP ROLE IF EXISTS "{user}"')


def test_init_script_without_a_password_creates_nothing(pg_admin):
    user = f"vf_infra_{uuid.uuid4().hex[:8]}"
    done = subprocess.run(["bash", str(INFRA / "postgres" / "initdb" / "20-void-farm-lineage.sh")],
                          capture_output=True, text=True, timeout=60,
                          env=_init_env(pg_admin, VOID_FARM_DB_PASSWORD="", VOID_FARM_DB_USER=user))
    assert done.returncode == 0, done.stderr
    assert "no lineage database created" in done.stdout
    assert _admin_query(pg_admin, "SELECT 1 FROM pg_roles WHERE rolname = %s", user) == []


# ------------------------------------------------------------------------------- prefect.yaml

def _flow_functions(path: Path) -> dict[str, tuple[str, ast.FunctionDef]]:
    """{function name: (flow name, def)} for every @flow(name=...) function in a module."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "flow":
                names = [k.value.value for k in decorator.keywords if k.arg == "name"]
                found[node.name] = (names[0] if names else node.name.replace("_", "-"), node)
    return found


def _parameters(function: ast.FunctionDef) -> tuple[set[str], set[str]]:
    """(all parameter names, those without a default)."""
    arguments = function.args
    positional = arguments.posonlyargs + arguments.args
    required = {a.arg for a in positional[:len(positional) - len(arguments.defaults)]}
    required |= {a.arg for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults) if d is None}
    return {a.arg for a in positional + arguments.kwonlyargs}, required


@pytest.fixture
def deployments(monkeypatch):
    """prefect.yaml's deployments as `prefect deploy` sees them: env placeholders filled in."""
    monkeypatch.setenv("VOID_FARM_OUT", "/shots/cleanup")
    monkeypatch.setenv("VOID_FARM_DROP", "/shots/editorial/drop")
    monkeypatch.setenv("VOID_FARM_DB", "postgresql+psycopg://voidfarm@dbhost/voidfarm")
    from prefect.cli.deploy._models import PrefectYamlModel
    from prefect.utilities.templating import apply_values

    model = PrefectYamlModel.model_validate(load("prefect.yaml"))
    assert model.prefect_version == version("prefect")
    return {d.name: apply_values(d.model_dump(exclude_unset=True), dict(os.environ),
                                 remove_notset=False) for d in model.deployments}


def test_prefect_yaml_entrypoints_name_flows_that_exist(deployments):
    entrypoints = {d["entrypoint"] for d in deployments.values()}
    assert "flows/cutlist_flow.py:cleanup_cutlist" in entrypoints
    for name, deployment in deployments.items():
        path, function = deployment["entrypoint"].split(":")
        assert re.fullmatch(r"[\w/]+\.py", path), f"{name}: entrypoint {path} is not a module path"
        module = REPO / path
        assert module.is_file(), (f"{name}: {path} does not exist; prefect.yaml's entrypoint "
                                  "needs it (flows/ is the lead's)")
        flows = _flow_functions(module)
        assert function in flows, f"{name}: no @flow function {function} in {path}"
        assert flows[function][0] == deployment["flow_name"]
        assert deployment["work_pool"]["name"] == "void-farm"


def test_prefect_yaml_parameters_fit_the_flow_signatures(deployments):
    for name, deployment in deployments.items():
        path, function = deployment["entrypoint"].split(":")
        accepted, required = _parameters(_flow_functions(REPO / path)[function][1])
        given = set(deployment["parameters"])
        assert given <= accepted, f"{name}: unknown parameters {given - accepted}"
        for value in deployment["parameters"].values():
            assert "{{ $" not in str(value), f"{name}: an env placeholder was not filled in"
        for trigger in deployment.get("triggers", []):
            assert set(trigger["parameters"]) <= accepted
            assert required <= set(trigger["parameters"]), f"{name}: the trigger misses {required}"
        if deployment.get("schedules"):
            assert required <= given, f"{name}: a schedule cannot supply {required - given}"


def test_prefect_yaml_nightly_schedule_is_2am_cron(deployments):
    schedules = [s for d in deployments.values() for s in d.get("schedules", [])]
    assert [s["cron"] for s in schedules] == ["0 2 * * *"]


def test_prefect_yaml_trigger_fires_on_the_watchers_event_with_its_path(deployments, monkeypatch,
                                                                        tmp_path):
    import prefect.events
    from prefect.cli.deploy._triggers import _initialize_deployment_triggers
    from prefect.events import Event
    from prefect.server.utilities.user_templates import render_user_template_sync

    from flows.drop_folder import emit_landed

    emitted = []
    monkeypatch.setattr(prefect.events, "emit_event",
                        lambda event, resource, payload: emitted.append(
                            Event(event=event, resource=resource, payload=payload)))
    cutlist = tmp_path / "reel1.otio"
    cutlist.write_text("{}")
    emit_landed(cutlist)
    [event] = emitted

    (name, deployment), = [(n, d) for n, d in deployments.items() if d.get("triggers")]
    [trigger] = _initialize_deployment_triggers(name, [dict(t) for t in deployment["triggers"]])
    assert event.event in trigger.expect
    assert trigger.match.matches(event.resource)
    rendered = {key: render_user_template_sync(value, {"event": event}) if isinstance(value, str)
                else value for key, value in trigger.parameters.items()}
    assert rendered["cutlist"] == str(cutlist.resolve())
    assert rendered["out"] == "/shots/cleanup"
