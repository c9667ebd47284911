"""Ray addresses, and keeping a local Ray on loopback: no Ray import here, on purpose.

On Linux, Ray 2.60 binds its processes to the machine's outward address even when told 127.0.0.1; with
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` every port it opens listens on 127.0.0.1. Ray reads that variable once,
when ``ray`` is first imported, so it must be decided before that import: ``population/__init__.py`` calls
:func:`keep_ray_on_loopback` before any module of the package imports Ray, and the CLI calls it again with
``--address`` once the flags are parsed. A real multi-node cluster needs real addresses, so the variable is set
only when Ray is started locally or joined on this machine.
"""

from __future__ import annotations

import ipaddress
import os
import sys

LOOPBACK_VAR = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
#: Marks that the variable was set by this module (so that a later, remote ``--address`` may take it back).
_SET_HERE = "_OPENLAND_SET_RAY_LOOPBACK"


def host_port(address: str) -> tuple[str, int | None]:
    """``HOST:PORT`` or ``ray://HOST:PORT`` (IPv6 hosts in brackets) as (host, port); port None if absent."""
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host:
        return rest, None
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return rest, None


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IPs (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local_address(address: str | None) -> bool:
    """True when ``address`` means a Ray on this machine: unset, ``local``, or a loopback host."""
    if not address or address in ("local", "auto"):  # "auto": a cluster already running on this machine
        return True
    return is_loopback(host_port(address)[0])


def keep_ray_on_loopback(address: str | None) -> bool:
    """Set ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` when Ray will be local (``address`` unset or on loopback), and
    take it back (only if set here) for a remote address. Returns whether Ray, as imported now or later, keeps
    to loopback. A value the user set is never overridden."""
    if is_local_address(address):
        if LOOPBACK_VAR not in os.environ:
            os.environ[LOOPBACK_VAR] = "0"
            os.environ[_SET_HERE] = "1"
    elif os.environ.pop(_SET_HERE, None):
        os.environ.pop(LOOPBACK_VAR, None)
    if "ray" in sys.modules:  # Ray already read the variable: say what it read
        from ray._private import ray_constants

        return not ray_constants.ENABLE_RAY_CLUSTER
    return os.environ.get(LOOPBACK_VAR, "").strip().lower() in ("0", "false")
