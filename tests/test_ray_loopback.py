"""A local ``openland train`` keeps every Ray socket on loopback.

The driver runs with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER unset, so only the package's own default (decided in
``population/__init__.py`` before Ray is imported) can keep Ray on 127.0.0.1. While it runs, the listening TCP
sockets of the driver and of every process under it (GCS, raylet, workers, agents) are read with psutil.
"""

from __future__ import annotations

import ipaddress
import os
import time
from pathlib import Path

import psutil
import pytest
from population_fixtures import TINY, driver_env, start_driver, stop_driver

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow]


def listening(root: psutil.Process) -> dict[tuple[str, int], str]:
    """(address, port) -> process name, for every listening TCP socket of ``root`` and its descendants."""
    out: dict[tuple[str, int], str] = {}
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for proc in procs:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    out[(conn.laddr.ip, conn.laddr.port)] = proc.name()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
    return out


def plain(address: str) -> str:
    """The address as written, with an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) as its IPv4 address."""
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def test_plain_addresses():
    assert [plain(a) for a in ("::ffff:127.0.0.1", "127.0.0.1", "::1", "0.0.0.0", "::", "10.1.2.3")] == [
        "127.0.0.1", "127.0.0.1", "::1", "0.0.0.0", "::", "10.1.2.3"]


def test_loopback_is_chosen_for_local_addresses_only(monkeypatch):
    from population.addresses import LOOPBACK_VAR, is_local_address, keep_ray_on_loopback

    assert [is_local_address(a) for a in (None, "local", "auto", "127.0.0.1:6379", "[::1]:6379", "localhost:1")] == [True] * 6
    assert not is_local_address("10.0.0.5:6379") and not is_local_address("ray://head.example:10001")
    monkeypatch.delenv(LOOPBACK_VAR, raising=False)
    monkeypatch.delenv("_OPENLAND_SET_RAY_LOOPBACK", raising=False)
    keep_ray_on_loopback(None)
    assert os.environ[LOOPBACK_VAR] == "0"
    keep_ray_on_loopback("10.0.0.5:6379")  # a real cluster: the value set here is taken back
    assert LOOPBACK_VAR not in os.environ
    monkeypatch.setenv(LOOPBACK_VAR, "1")  # the user's own value is never overridden
    keep_ray_on_loopback(None)
    assert os.environ[LOOPBACK_VAR] == "1"


def test_every_ray_socket_of_a_local_run_is_on_loopback(tmp_path: Path):
    log = tmp_path / "driver.log"
    args = ["--name", "lo", "--runs-dir", str(tmp_path), "--iterations", "3", "--members", "1", "--workers", "1",
            "--checkpoint-every", "3", *TINY]  # fmt: skip
    env = driver_env(loopback_from_package=True)
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in env
    driver = start_driver(args, log, env)
    seen: dict[tuple[str, int], str] = {}
    try:
        root = psutil.Process(driver.pid)
        deadline = time.monotonic() + 400
        while driver.poll() is None and time.monotonic() < deadline:
            seen.update(listening(root))
            time.sleep(0.2)
        assert driver.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        stop_driver(driver)
    names = set(seen.values())
    # it saw Ray's own processes, not only the driver: the check below is not vacuous
    assert {"gcs_server", "raylet"} <= names, seen
    assert len(seen) >= 5, seen
    outward = {addr: name for addr, name in seen.items() if plain(addr[0]) not in ("127.0.0.1", "::1")}
    assert not outward, f"Ray sockets listening beyond loopback: {outward}"
