"""Suite-wide settings that must hold before any test module imports Ray.

Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` once, when it is first imported; ``0`` keeps every socket of a
local Ray on 127.0.0.1. ``population/__init__.py`` sets it for the package, but a test may import ``ray`` first.
"""

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from agents import enable_compilation_cache  # noqa: E402

# compiled programs from earlier tests and processes are loaded from disk instead of compiled again
enable_compilation_cache()
