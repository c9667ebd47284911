"""The replay viewer in real headless Chromium: it draws an episode recorded by a real run, its avatars at the
recorded poses, its predicate panel with the recorded truth; bad files get an error page; paths outside the
served run are refused. Also the helpers the report tests share (a tiny real run, the browser)."""

from __future__ import annotations

import atexit
import functools
import io
import json
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from viewer.server import start_server
from worlds.episodes.recording import load_episode, save_episode
from worlds.sim.layout import PLAYER_RGBA
from worlds.tasks.game import task_from_json, task_id

#: one xdist worker for the viewer and report tests, so they share one tiny run (tiny_run is per process)
pytestmark = pytest.mark.xdist_group("viewer")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TOPDOWN_MARGIN = 1.0  # viewer.js's TOPDOWN_MARGIN: the top-down view's convention, restated here on purpose


@functools.cache
def tiny_run() -> Path:
    """A real ``openland train --local`` run, as small as it goes: 2-player family, 4 updates, an evaluation
    (with a recorded episode) every 2 updates. Made once per test process."""
    from agents.local_train import LocalTrainConfig, train_local

    base = Path(tempfile.mkdtemp(prefix="openland-viewer-"))
    atexit.register(shutil.rmtree, base, True)
    cfg = LocalTrainConfig(name="tiny", runs_dir=base, family="duo", num_envs=4, total_timesteps=512, eval_every=2,
                           eval_tasks=2, record_episodes=1, checkpoint_every=100, progress=False)  # fmt: skip
    train_local(cfg)
    return cfg.run_dir()


def chrome():
    """Headless Chromium with software WebGL (the flags that give WebGL on a machine without a GPU)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), f"{path} missing: install Debian's chromium and chromium-driver (make test does)"
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 "--window-size=1400,1000", "--force-device-scale-factor=1"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def wait_for(driver, script: str, timeout: float = 30.0):
    """Poll ``script`` (a JS expression) until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {script}")


def severe_logs(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def run_dir() -> Path:
    return tiny_run()


def open_episode(driver, server, rel: str) -> None:
    driver.get(server.url + "?episode=" + urllib.parse.quote(rel))
    wait_for(driver, "window.viewer && window.viewer.ready")


def set_step_by_typing(driver, step: int) -> None:
    """Move the timeline as a user does: type the step into the step box and press Enter."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, "stepinput")
    box.clear()
    box.send_keys(str(step), Keys.ENTER)
    wait_for(driver, f"document.body.dataset.step === '{step}'")


def canvas_image(driver, element_id: str) -> np.ndarray:
    from selenium.webdriver.common.by import By

    png = driver.find_element(By.ID, element_id).screenshot_as_png
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def topdown_pixel(world: dict, x: float, y: float, width: int, height: int) -> tuple[int, int]:
    W, H = world["cols"] * world["tile_size"], world["rows"] * world["tile_size"]
    k = min(width / (W + 2 * TOPDOWN_MARGIN), height / (H + 2 * TOPDOWN_MARGIN))
    return int(round(width / 2 + (x - W / 2) * k)), int(round(height / 2 - (y - H / 2) * k))


def colour_near(img: np.ndarray, px: tuple[int, int], rgb: np.ndarray, radius: int = 1, tol: int = 12) -> bool:
    """Whether every pixel of the (2 radius + 1)^2 patch at ``px`` has colour ``rgb`` (within ``tol``)."""
    x, y = px
    patch = img[y - radius:y + radius + 1, x - radius:x + radius + 1]
    return bool(np.all(np.abs(patch - rgb) <= tol))


def test_page_plays_a_recorded_episode_at_its_recorded_poses(browser, run_dir):
    episodes = sorted((run_dir / "episodes").glob("*.npz"))
    assert episodes, "the run recorded no episode"
    rel = str(episodes[-1].relative_to(run_dir))
    ep = load_episode(episodes[-1])
    task = task_from_json(ep.task_json)
    server = start_server(run_dir)
    try:
        open_episode(browser, server, rel)
        assert not browser.execute_script("return document.body.dataset.error")
        options = browser.execute_script("return Array.from(document.getElementById('episodes').options).map(o => o.value)")
        assert options == [str(p.relative_to(run_dir)) for p in episodes]  # every episode of the run, to switch to
        world = browser.execute_script("return window.viewer.payload.world")

        # the 3D canvas is drawn: many colours, not one background
        img3d = canvas_image(browser, "view3d")
        assert len(np.unique(img3d.reshape(-1, 3), axis=0)) > 50, "3D canvas looks blank"

        # two steps far apart in the avatar's recorded path
        pos = ep.arrays["player_pos"]  # [T, P, 3]
        T, P = pos.shape[:2]
        moved = np.linalg.norm(pos[:, None, :, :2] - pos[None, :, :, :2], axis=-1)  # [T, T, P]
        t1, t2, p = np.unravel_index(np.argmax(moved), moved.shape)
        assert moved[t1, t2, p] > 1.0, "no avatar moved a metre in the episode: the pose check would prove nothing"
        rgb = np.round(PLAYER_RGBA[p, :3] * 255).astype(int)
        shots = {}
        for t in (t1, t2):
            set_step_by_typing(browser, int(t))
            top = canvas_image(browser, "topdown")
            shots[t] = (top, canvas_image(browser, "view3d"))
            h, w = top.shape[:2]
            here = topdown_pixel(world, *pos[t, p, :2], w, h)
            assert colour_near(top, here, rgb), f"step {t}: player {p} not drawn at its recorded pose {pos[t, p]}"
            other = topdown_pixel(world, *pos[t2 if t == t1 else t1, p, :2], w, h)
            others_there = [q for q in range(P) if q != p and np.linalg.norm(pos[t, q, :2] - pos[t2 if t == t1 else t1, p, :2]) < 0.8]
            if not others_there:
                assert not colour_near(top, other, rgb), f"step {t}: player {p} still drawn where it was at the other step"
            # the predicate panel shows the recorded truth at this step
            for pl, goal in enumerate(task.game.goals):
                for o, option in enumerate(goal.options):
                    for k, pred in enumerate(option):
                        el = browser.execute_script(
                            f"const e = document.getElementById('pred-{pl}-{o}-{k}'); return [e.dataset.truth, e.dataset.text]")
                        assert el == ["1" if ep.arrays["truth"][t, pl, o, k] else "0", str(pred)], (t, pl, o, k)
                goal_text = browser.execute_script(f"return document.getElementById('goal-{pl}').textContent")
                assert goal_text == f"goal: {goal}"
            reward = browser.execute_script(f"return document.getElementById('reward-{p}').textContent")
            assert float(reward) == pytest.approx(float(ep.arrays["rewards"][t, p]), abs=0.006)
        assert np.abs(shots[t1][1] - shots[t2][1]).max() > 0, "the 3D view did not change between the steps"

        # play at 4x from step 0 advances the timeline by itself; pause stops it
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        set_step_by_typing(browser, 0)
        Select(browser.find_element(By.ID, "speed")).select_by_value("4")
        browser.find_element(By.ID, "play").click()
        wait_for(browser, "window.viewer.step >= 5")
        browser.find_element(By.ID, "play").click()
        paused = browser.execute_script("return window.viewer.step")
        time.sleep(0.3)
        assert browser.execute_script("return window.viewer.step") == paused

        # switching to the run's other episode loads it
        other = str(episodes[0].relative_to(run_dir))
        Select(browser.find_element(By.ID, "episodes")).select_by_value(other)
        wait_for(browser, f"window.viewer.ready && window.viewer.path === {json.dumps(other)}")
        assert browser.execute_script("return window.viewer.payload.task_id") == task_id(
            task_from_json(load_episode(episodes[0]).task_json))
        assert severe_logs(browser) == []
    finally:
        server.shutdown()


def test_malformed_and_truncated_files_get_an_error_page(browser, run_dir, tmp_path):
    good = sorted((run_dir / "episodes").glob("*.npz"))[0]
    data = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.npz").write_bytes(b"this is not an episode")
    np.savez(tmp_path / "nofields.npz", meta=np.frombuffer(b'{"task": {}, "seed": 0, "env_config": {}}', dtype=np.uint8))
    ep = load_episode(good)
    ep.arrays["player_pos"] = ep.arrays["player_pos"][:, :, :2]  # wrong shape
    save_episode(ep, tmp_path / "badshape.npz")
    server = start_server(tmp_path)
    try:
        expected = {"truncated.npz": "not a readable recording", "garbage.npz": "not a readable recording",
                    "nofields.npz": "field 'player_pos' is missing", "badshape.npz": "field 'player_pos' has shape"}
        for name, words in expected.items():
            open_episode(browser, server, name)
            assert browser.execute_script("return document.body.dataset.error") == "1", name
            shown = browser.execute_script("return document.getElementById('error').innerText")
            assert name in shown and words in shown, shown
            assert "Traceback" not in shown and browser.execute_script(
                "return getComputedStyle(document.getElementById('main')).display") == "none"
    finally:
        server.shutdown()


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_paths_outside_the_run_are_refused(browser, run_dir, tmp_path):
    good = sorted((run_dir / "episodes").glob("*.npz"))[0]
    served = tmp_path / "run"
    (served / "episodes").mkdir(parents=True)
    shutil.copy(good, served / "episodes" / "inside.npz")
    shutil.copy(good, tmp_path / "outside.npz")  # a real episode, just not in the run
    (served / "episodes" / "link.npz").symlink_to(tmp_path / "outside.npz")
    server = start_server(served)
    try:
        api = server.url + "api/episode?path="
        assert _get(api + "episodes/inside.npz")[0] == 200
        for bad in ("../outside.npz", "episodes/../../outside.npz", str(tmp_path / "outside.npz"), "episodes/link.npz",
                    "../../../../etc/passwd", "config.json"):
            status, body = _get(api + urllib.parse.quote(bad, safe=""))
            assert status == 403 and "refused" in body["error"], (bad, status, body)
        assert _get(server.url + "api/episodes")[1]["episodes"] == ["episodes/inside.npz", "episodes/link.npz"]
        open_episode(browser, server, "../outside.npz")
        assert "refused" in browser.execute_script("return document.getElementById('error').innerText")
    finally:
        server.shutdown()
    single = start_server(served / "episodes" / "inside.npz")  # one file served: its neighbours are refused
    try:
        assert _get(single.url + "api/episodes")[1]["episodes"] == ["inside.npz"]
        assert _get(single.url + "api/episode?path=inside.npz")[0] == 200
        assert _get(single.url + "api/episode?path=link.npz")[0] == 403
    finally:
        single.shutdown()


def test_time_to_interactive_of_a_250_step_4_player_episode(browser, tmp_path):
    """Printed, not asserted: the machine is shared. Interactive = first frame of the episode drawn, panel built."""
    from worlds.envs.batch_env import BatchEnv, EnvConfig
    from worlds.episodes.replay import run_recorded
    from worlds.tasks.game import TaskGenConfig, sample_training_task

    env = BatchEnv(EnvConfig(num_envs=1, num_players=4, max_steps=250))
    env.load_tasks([sample_training_task(3, TaskGenConfig(min_players=4, max_players=4))])
    nvec = env.single_action_space.nvec
    actions = np.random.default_rng(0).integers(0, nvec, size=(250, 1, 4, len(nvec)))  # [steps, envs, players, A]
    episode = run_recorded(env, list(actions))
    assert episode.num_steps == 250 and episode.arrays["player_pos"].shape[1] == 4
    save_episode(episode, tmp_path / "long.npz")
    server = start_server(tmp_path / "long.npz")
    try:
        server_ready = time.perf_counter()
        browser.get(server.url)
        wait_for(browser, "window.viewer && window.viewer.ready")
        tti = browser.execute_script("return window.viewer.ttiMs")
        size = len(urllib.request.urlopen(server.url + "api/episode?path=long.npz").read())
        print(f"\nviewer time to interactive, 250 steps x 4 players: {tti:.0f} ms after navigation "
              f"({time.perf_counter() - server_ready:.2f} s after the server started, episode JSON {size / 1024:.0f} KB)")
        set_step_by_typing(browser, 249)
        assert not browser.execute_script("return document.body.dataset.error")
    finally:
        server.shutdown()
