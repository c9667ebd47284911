"""Starting or joining Ray, with the settings this project needs.

Why a module of its own: on Linux, Ray 2.60 binds to the machine's outward address even when told 127.0.0.1.
The local default (and every test and benchmark) must stay on loopback, which takes
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` in the environment of the driver *before* Ray starts its processes
(see DESIGN.md). A real cluster needs real addresses, so the variable is set only when we start Ray ourselves.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass

import ray

#: Environment for every actor: bounded XLA/BLAS threads so that the actors of one machine do not fight over
#: cores, and JAX on the CPU.
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
    runtime_env = {"env_vars": ACTOR_ENV_VARS}
    if address:
        _probe(address)
        host = _host_port(address)[0] if address not in ("auto", "local") else None
        if host is not None and _is_loopback(host):
            # a cluster on this machine: keep the driver on loopback too (see the module docstring)
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        try:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        except Exception as err:  # Ray raises ConnectionError, ValueError or its own types depending on the step
            raise ClusterError(f"cannot reach the Ray cluster at address={address!r}: {err}") from err
        return RayStart(address=address, started_locally=False, num_cpus=ray.cluster_resources().get("CPU", 0.0))
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
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


def _host_port(address: str) -> tuple[str, int | None]:
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host:
        return rest, None
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return rest, None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _probe(address: str, timeout: float = 3.0) -> None:
    """Fail fast, naming the address, when nothing listens there (Ray itself retries for minutes)."""
    if address in ("auto", "local"):
        return
    host, port = _host_port(address)
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
