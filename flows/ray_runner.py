"""Connecting to Ray: attach to the cluster the user named, or start a local one on purpose.

prefect-ray's runner maps a missing address (and "auto") to `ray.init()`, which silently starts a
new local instance when the named cluster is not there. A render farm must not do that: a run
aimed at the farm would quietly render on the submitting workstation. So the address is checked
first (a plain TCP connect, fast) and Ray is initialised here; the runner then reuses it.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import ray
from prefect_ray import RayTaskRunner

from flows import orphan_reaper
from void_core.errors import VoidFarmError
from void_core.preflight import check_ray_address

NAMESPACE = "void-farm"
CONNECT_TIMEOUT_SECONDS = 3.0


class RayUnreachable(VoidFarmError):
    pass


def connect_ray(address: str | None = None, *, num_cpus: int | None = None) -> dict:
    """Attach to `address` (or $RAY_ADDRESS); without one, start a local Ray on this machine's
    CPUs. Returns what was done, for the run's log. Raises RayUnreachable when the named
    cluster does not answer."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _check_reachable(address)
    if ray.is_initialized():
        return {"ray": "already connected"}
    common = dict(namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
    if address:
        try:
            ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as err:
            raise RayUnreachable(f"cannot attach to the Ray cluster at {address}: "
                                 f"{str(err).splitlines()[0]} (is `ray start --head` running there, "
                                 "and is RAY_AUTH_TOKEN set when the cluster uses token auth?)") from None
        return {"ray": f"attached to {address}"}
    cpus = num_cpus or os.cpu_count() or 1
    # Ray's usage report probes the cloud metadata address (169.254.169.254) from its dashboard
    # process; an air-gapped run sends nothing (the farm's nodes: ray-node.sh's flag).
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, **common)
    orphan_reaper.start_for_this_process()  # a SIGKILLed run must not leave Ray's agents behind
    return {"ray": f"started a local Ray with {cpus} CPUs"}


def _check_reachable(address: str) -> None:
    if check_ray_address(address) == "auto":
        return  # ray.init itself raises when no cluster is found
    parsed = urlsplit(address if "://" in address else f"ray://{address}")
    host, port = parsed.hostname, parsed.port
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except OSError as err:
        raise RayUnreachable(f"Ray cluster at {address} does not answer ({err.strerror or err}); "
                             "start it with `ray start --head`, or leave --ray-address out to run "
                             "on a local Ray") from None


class FarmRayTaskRunner(RayTaskRunner):
    """RayTaskRunner that connects through `connect_ray` (no silent local fallback)."""

    def __init__(self, address: str | None = None, init_kwargs: dict | None = None,
                 num_cpus: int | None = None):
        super().__init__(address=address, init_kwargs=init_kwargs)
        self.num_cpus = num_cpus

    def duplicate(self):
        return type(self)(address=self.address, init_kwargs=self.init_kwargs, num_cpus=self.num_cpus)

    def __enter__(self):
        connect_ray(self.address, num_cpus=self.num_cpus)
        return super().__enter__()
