"""The openland command line: the real entry point, run as a user would."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

OPENLAND = [sys.executable, "-m", "launch.cli"]
ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([*OPENLAND, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_render_world_writes_a_picture(tmp_path):
    out = tmp_path / "world.png"
    result = run("render-world", "--seed", "7", "--out", str(out), "--width", "160", "--height", "120")
    assert result.returncode == 0, result.stderr
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape == (120, 320, 3)
    assert image.std() > 10  # a world, not a blank frame
    assert "world " in result.stdout and str(out) in result.stdout


def test_describe_prints_the_task_and_its_stable_id():
    a, b = run("describe", "--seed", "5"), run("describe", "--seed", "5")
    assert a.returncode == 0, a.stderr
    data = json.loads(a.stdout)
    assert data == json.loads(b.stdout)
    assert set(data["task"]) == {"world", "game"} and len(data["id"]) == 16


def test_unknown_flag_is_refused_with_usage():
    result = run("render-world", "--colour", "red")
    assert result.returncode != 0 and "--colour" in result.stderr
