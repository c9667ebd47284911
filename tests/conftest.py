"""Suite-wide settings that must hold before any test module imports Ray.

Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` once, when it is first imported; ``0`` keeps every socket of a
local Ray on 127.0.0.1. ``population/__init__.py`` sets it for the package, but a test may import ``ray`` first.
"""

import os

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from agents import enable_compilation_cache  # noqa: E402

# compiled programs from earlier tests and processes are loaded from disk instead of compiled again
enable_compilation_cache()


@pytest.fixture(autouse=True)
def _ray_tests_run_one_at_a_time(request: pytest.FixtureRequest) -> None:
    """Tests in the xdist group "ray" start and stop Ray on this machine (``ray stop --force`` ends every Ray
    process here), so under xdist they must all run in one worker: ``--dist loadgroup`` marks a grouped test's
    id with ``@ray``. Fail loudly where the installed pytest/xdist pair does not group (pytest 9.2 with xdist 3.8
    does not). Only an xdist worker sets ``loadgroup``; a run without ``-n`` is one process."""
    marker = request.node.get_closest_marker("xdist_group")
    if marker is not None and marker.args[:1] == ("ray",) and getattr(request.config.option, "loadgroup", False):
        assert request.node.nodeid.endswith("@ray"), (
            f"xdist's loadgroup did not group {request.node.nodeid!r}: the Ray tests would run beside each other"
        )
