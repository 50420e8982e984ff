"""`void-farm run --analyzer local-vlm --config ...` end to end, with the network blocked.

Two synthetic shots through the real Prefect flow on a real local Ray; the tiny random Qwen3-VL
runs in the run's analysis host. Every process of the run (this one, Ray's workers and the
host actor, which inherit the environment when Ray starts) imports a `sitecustomize` that
refuses any connect to an address outside the loopback range and writes it down; the test
reads that record at the end (Ray's own start-up probe of the cloud metadata address aside). Slow (Ray and Prefect start, the model loads): `make test-slow`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from conftest import TINY_VLM_SETTINGS
from void_core.analysis.local_vlm.check import folder_checksums
from void_core.synth import SceneSpec, write_scene
from void_core.synth.cutlist import write_synthetic_cutlist

pytestmark = [pytest.mark.xdist_group("ray-prefect"), pytest.mark.slow]

GUARD = '''
import ipaddress, os, socket

_LOG = os.environ.get("VOID_FARM_NET_LOG")
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _loopback(address):
    if not isinstance(address, tuple):
        return True  # a Unix socket
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost


def _refuse(sock, address):
    if _LOG:
        import sys, traceback
        kind = "tcp" if sock.type == socket.SOCK_STREAM else "udp"
        callers = [frame.filename.rsplit("/", 2)[-2] + "/" + frame.name
                   for frame in traceback.extract_stack(limit=12)[:-3]]
        with open(_LOG, "a") as log:
            log.write(f"{os.getpid()} {kind} {address!r} {sys.argv[:1]} {callers}" + chr(10))
    raise ConnectionRefusedError(f"network blocked by the test: {address!r}")


def connect(self, address):
    if not _loopback(address):
        _refuse(self, address)
    return _connect(self, address)


def connect_ex(self, address):
    if not _loopback(address):
        _refuse(self, address)
    return _connect_ex(self, address)


socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
'''


@pytest.fixture(scope="module")
def guarded_ray(tmp_path_factory):
    """A local Ray whose every process refuses non-loopback connects; yields the record."""
    import ray

    from flows.cli_run import prepare_prefect_environment
    from flows.ray_runner import connect_ray

    folder = tmp_path_factory.mktemp("netguard")
    (folder / "sitecustomize.py").write_text(GUARD)
    record = folder / "refused.log"
    record.touch()
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "VOID_FARM_NET_LOG")}
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(folder), *filter(None, [saved["PYTHONPATH"], str(Path.cwd())])])
    os.environ["VOID_FARM_NET_LOG"] = str(record)
    import socket

    originals = socket.socket.connect, socket.socket.connect_ex
    exec(compile(GUARD, "netguard", "exec"), {"__name__": "netguard"})  # this process too
    try:
        prepare_prefect_environment()
        if ray.is_initialized():
            ray.shutdown()  # a Ray started without the guard
        connect_ray(num_cpus=2)
        yield record
    finally:
        ray.shutdown()
        socket.socket.connect, socket.socket.connect_ex = originals
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


def test_run_with_the_local_vlm_loads_it_once_records_it_and_stays_offline(
        guarded_ray, tiny_vlm, tmp_path):
    from flows.cli import app

    scenes = [write_scene(SceneSpec(name=f"sh{10 * (i + 1):03d}", width=128, height=80,
                                    frames=8, shadow=True, seed=i),
                          tmp_path / f"sh{10 * (i + 1):03d}", mask_name="ground_truth_mask.mp4")
              for i in range(2)]
    cutlist = write_synthetic_cutlist(scenes, tmp_path / "reel.otio")
    config = tmp_path / "void-farm.toml"
    lines = [f"model_dir = {json.dumps(str(tiny_vlm))}"] + \
        [f"{key} = {json.dumps(value)}" for key, value in TINY_VLM_SETTINGS.items()]
    config.write_text("[analysis.local-vlm]\n" + "\n".join(lines) + "\n")
    out = tmp_path / "out"

    result = CliRunner().invoke(app, ["run", str(cutlist), "--out", str(out), "--analyzer",
                                      "local-vlm", "--config", str(config), "--resident",
                                      "--json"])
    assert result.exit_code == 0, result.output[-3000:]
    summary = json.loads((out / "reel.summary.json").read_text())
    assert (summary["succeeded"], summary["failed"]) == (2, 0), summary
    assert summary["engine_hosts"]["analysis"] == {"engine": "local-vlm", "shots_served": 2,
                                                   "model_loads": 1}

    expected = folder_checksums(tiny_vlm)
    engine = sa.create_engine(f"sqlite:///{out / 'void-farm-lineage.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT engine, model_checksums, engine_settings FROM stage_run "
            "WHERE stage = 'analysis' AND status = 'succeeded'")).all()
    engine.dispose()
    assert len(rows) == 2
    for name, checksums, settings in rows:
        checksums = json.loads(checksums) if isinstance(checksums, str) else checksums
        settings = json.loads(settings) if isinstance(settings, str) else settings
        assert name == "local-vlm"
        assert checksums == expected
        assert settings["engine"][0] == "local-vlm"
        assert settings["engine"][2]["model_dir"] == str(tiny_vlm)

    refused = [line for line in guarded_ray.read_text().splitlines()
               if " tcp " in line and not _rays_cloud_probe(line)]
    assert refused == [], "the run tried to reach the network: " + "; ".join(refused[:5])
    print(guarded_ray.read_text(), file=sys.stderr)  # what was refused, for the log


def _rays_cloud_probe(line: str) -> bool:
    """Ray's dashboard asks the cloud metadata address which cloud it runs on when it starts,
    before it reads RAY_USAGE_STATS_ENABLED (ray 2.60, usage_stats_head.run); refused, Ray goes
    on. Not the run's doing, and the only connect this test lets pass unremarked."""
    return "('169.254.169.254', 80)" in line and "ray/dashboard/dashboard.py" in line
