"""Starting or joining Ray, with the settings this project needs.

The local default (and every test and benchmark) must stay on loopback. That is decided before Ray is imported
(``population.addresses``, called by ``population/__init__.py``); here a local start whose Ray was imported
too early, and so would listen on the machine's outward address, is refused with the reason.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import ray

from agents import compilation_cache_env
from population.addresses import LOOPBACK_VAR, host_port, is_local_address, keep_ray_on_loopback

#: Environment for every actor: bounded XLA/BLAS threads so that the actors of one machine do not fight over
#: cores, and JAX on the CPU (plus the persistent compilation cache, agents.compilation_cache_env).
ACTOR_ENV_VARS: dict[str, str] = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "JAX_PLATFORMS": "cpu",
}


class ClusterError(RuntimeError):
    """Ray could not be started or reached; the message names the address."""


@dataclass(frozen=True)
class RayStart:
    """How the driver reached Ray."""

    address: str
    """The address of the cluster joined, or "local" when the driver started its own."""
    started_locally: bool
    """True when this process started Ray and must shut it down."""
    num_cpus: float
    """CPUs the cluster offers."""


def start_ray(address: str | None = None, num_cpus: int | None = None) -> RayStart:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), or start a local Ray on loopback.

    A cluster address that does not answer is a ClusterError naming the address, raised before any work.
    """
    address = address or os.environ.get("RAY_ADDRESS") or None
    if ray.is_initialized():
        resources = ray.cluster_resources()
        return RayStart(address=address or "local", started_locally=False, num_cpus=resources.get("CPU", 0.0))
    # actors on this machine share the driver's compilation cache; a remote machine keeps its own defaults
    runtime_env = {"env_vars": {**ACTOR_ENV_VARS, **(compilation_cache_env() if is_local_address(address) else {})}}
    if is_local_address(address) and not keep_ray_on_loopback(address):
        raise ClusterError(
            f"a local Ray would listen on this machine's outward address: Ray read {LOOPBACK_VAR}="
            f"{os.environ.get(LOOPBACK_VAR)!r} (it must be '0' when ray is first imported; import population "
            "before ray, and do not set it to 1 for a local run)"
        )
    if address:
        _probe(address)
        try:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        except Exception as err:  # Ray raises ConnectionError, ValueError or its own types depending on the step
            raise ClusterError(f"cannot reach the Ray cluster at address={address!r}: {err}") from err
        return RayStart(address=address, started_locally=False, num_cpus=ray.cluster_resources().get("CPU", 0.0))
    ray.init(
        address="local",  # always a new instance: without it ray.init joins a cluster already running here
        num_cpus=num_cpus or os.cpu_count() or 1,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        runtime_env=runtime_env,
        log_to_driver=False,
        configure_logging=False,
    )
    return RayStart(address="local", started_locally=True, num_cpus=ray.cluster_resources().get("CPU", 0.0))


def _probe(address: str, timeout: float = 3.0) -> None:
    """Fail fast, naming the address, when nothing listens there (Ray itself retries for minutes)."""
    if address in ("auto", "local"):
        return
    host, port = host_port(address)
    if port is None:
        raise ClusterError(f"address={address!r} is not HOST:PORT (or ray://HOST:PORT)")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise ClusterError(f"cannot reach the Ray cluster at address={address!r}: {err}") from None


def stop_ray(start: RayStart) -> None:
    """Shut Ray down if this process started it; leave a joined cluster running."""
    if start.started_locally and ray.is_initialized():
        ray.shutdown()
    elif ray.is_initialized():
        ray.shutdown()  # disconnects the driver only; the cluster keeps running
