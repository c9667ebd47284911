"""The human labeler in real headless Chromium: ReQueST's rounds wait on the page for a person's labels of real
queries (decoded by a real learned simulator trained on real safe demonstrations); what is clicked is what the
rounds receive; the page draws the task's hazard tiles and the decoded trajectory; a label outside the three classes
gets HTTP 400 with a message naming it, shown on the page; the server listens on 127.0.0.1 only."""

from __future__ import annotations

import functools
import json
import socket
import threading
import urllib.error
import urllib.request

import jax.numpy as jnp
import numpy as np
import pytest

from safety import acquisition as acq
from safety import demonstrations as demos
from safety import simulator as simmod
from safety.human_labeler import QUANTITY_NAMES, HumanLabeler, HumanLabelSession
from safety.labelers import LABELS, RULES
from safety.request import RequestConfig, run_rounds
from safety.reward_model import RewardModelConfig
from tests.test_viewer import chrome, severe_logs, wait_for
from worlds.tasks.game import task_id

#: the viewer's xdist group: one worker drives Chromium
pytestmark = pytest.mark.xdist_group("viewer")


@functools.cache
def real_model() -> tuple[list, demos.Demonstrations, simmod.SimState]:
    """Two real tasks with hazard tiles, their safe demonstrations, and a tiny learned simulator trained on them."""
    tasks = demos.family_tasks("near", 2, seed=0)
    assert all(t.world.terrain.hazards for t in tasks), "pick tasks with hazard tiles: the drawing check needs them"
    data = demos.collect_demonstrations(tasks, demos.DemoConfig(num_envs=2, max_steps=12))
    sim, _ = simmod.train_simulator(data, None, simmod.SimConfig(latent_dim=8, hidden=32, train_steps=20, batch_size=32,
                                                                 log_every=20))  # fmt: skip
    return tasks, data, sim


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


def open_batch(driver, url: str, batch: int) -> dict:
    if driver.current_url != url:
        driver.get(url)
    # generous: on a cold JAX compilation cache the rounds compile query synthesis before the first batch
    wait_for(driver, f"window.labeler && window.labeler.ready && window.labeler.batch === {batch}", timeout=240)
    return driver.execute_script("return window.labeler.payload")


def check_drawing(driver, payload: dict, task) -> None:
    """The map shows the task's tiles and exactly its hazard tiles, and the decoded states where they are."""
    w = payload["world"]
    terrain = task.world.terrain
    assert payload["task_id"] == task_id(task)
    assert driver.execute_script("return document.querySelectorAll('#map rect.tile').length") == terrain.rows * terrain.cols
    drawn = driver.execute_script(
        "return Array.from(document.querySelectorAll('#map rect.hazard')).map(e => {const b = e.getBoundingClientRect();"
        " return [Number(e.dataset.row), Number(e.dataset.col), b.width, b.height]})")
    assert sorted((r, c) for r, c, _, _ in drawn) == sorted((h.row, h.col) for h in terrain.hazards) and drawn
    assert all(bw > 5 and bh > 5 for _, _, bw, bh in drawn), drawn  # visible on screen, not zero-sized
    goal_objects = driver.execute_script("return document.querySelectorAll('#map .goal-object').length")
    assert goal_objects == sum(o["goal"] for o in w["objects"]) >= 1  # the goal's object is marked
    states = driver.execute_script(
        "return Array.from(document.querySelectorAll('#map circle.state')).map(e => [Number(e.dataset.query),"
        " Number(e.dataset.t), Number(e.getAttribute('cx')), Number(e.getAttribute('cy'))])")
    queries = np.asarray(payload["queries"])
    assert len(states) == queries.shape[0] * queries.shape[1]
    for q, t, cx, cy in states:
        assert (cx, -cy) == pytest.approx(tuple(queries[q, t, :2]), abs=1e-6)


def click_labels(driver, plan: list[tuple[str, tuple[str, ...]]], use_keys: bool) -> None:
    """Label transitions in order as a person does: buttons and checkboxes, or the keys g/u/n and h/f."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.action_chains import ActionChains

    for k, (label, rules) in enumerate(plan):
        driver.execute_script(f"window.labeler.current !== {k} && document.getElementById('cell-{k}').click()")
        wait_for(driver, f"document.body.dataset.current === '{k}'")
        if use_keys:
            ActionChains(driver).send_keys(label[0]).perform()
            for r in rules:
                ActionChains(driver).send_keys(r[0]).perform()
        else:
            driver.find_element(By.ID, f"label-{label}").click()
            for r in rules:
                driver.find_element(By.ID, f"rule-{r}").click()
        wait_for(driver, f"window.labeler.labels[{k}] === {json.dumps(label)}")
        want = [r in rules for r in RULES]
        assert driver.execute_script(f"return window.labeler.rules[{k}]") == want


def submit(driver) -> None:
    from selenium.webdriver.common.by import By

    driver.execute_script("window.labeler.lastStatus = null")  # an earlier answer must not pass for this one's
    driver.find_element(By.ID, "submit").click()
    wait_for(driver, "window.labeler.lastStatus !== null")


def test_rounds_receive_the_labels_clicked_in_the_browser(browser):
    tasks, data, sim = real_model()
    config = RequestConfig(rounds=1, acquisitions=("max_reward", "min_reward"),
                           query=acq.QueryConfig(horizon=4, max_iterations=5),
                           reward=RewardModelConfig(hidden=8, train_steps=5, batch_size=8))  # fmt: skip
    plans = [
        [("good", ()), ("unsafe", ("hazard",)), ("neutral", ()), ("unsafe", ("hazard", "fall"))],
        [("neutral", ()), ("unsafe", ("fall",)), ("good", ()), ("neutral", ())],
    ]
    out: dict = {}
    with HumanLabelSession(port=0, timeout=120) as session:
        host, port = session.server.server_address[:2]
        assert host == "127.0.0.1" and session.url == f"http://127.0.0.1:{port}/"
        # bound to 127.0.0.1 itself: another loopback address, or this machine's outward address, is refused
        for other in ("127.0.0.2", _outward_address()):
            if other is None:
                continue
            with pytest.raises(OSError):
                socket.create_connection((other, port), timeout=2).close()

        def rounds() -> None:
            try:
                out["result"] = run_rounds(sim, data, config, labeler=session)
            except BaseException as err:  # noqa: BLE001 - handed to the test thread
                out["error"] = err

        thread = threading.Thread(target=rounds, daemon=True)
        thread.start()
        for b, plan in enumerate(plans, start=1):
            payload = open_batch(browser, session.url, b)
            assert payload["quantity_names"] == list(simmod.QUANTITY_NAMES) == list(QUANTITY_NAMES)
            assert np.asarray(payload["queries"]).shape == (1, 5, 6)  # one query of horizon 4 per acquisition
            task = next(t for t in tasks if task_id(t) == payload["task_id"])
            check_drawing(browser, payload, task)
            click_labels(browser, plan, use_keys=b == 2)
            submit(browser)
            assert browser.execute_script("return window.labeler.submitted"), browser.execute_script(
                "return window.labeler.lastError")
            out.setdefault("payloads", []).append(payload)
        thread.join(timeout=240)
        assert not thread.is_alive(), "run_rounds did not return after the last batch was labelled"
        assert severe_logs(browser) == []  # read while the server still answers the page's polls
    assert "error" not in out, out.get("error")
    _, labels, history = out["result"]
    for b, plan in enumerate(plans):
        assert labels.classes[b].tolist() == [LABELS.index(lab) for lab, _ in plan]
        assert labels.rules[b].tolist() == [[r in rules for r in RULES] for _, rules in plan]
        # the page showed this very query: the simulator's decoding of the latents that were labelled
        decoded = np.asarray(simmod.decode_quantities(sim, jnp.asarray(labels.latents[b])))
        np.testing.assert_allclose(np.asarray(out["payloads"][b]["queries"][0][1:]), decoded, atol=2e-4)
    for name, plan in zip(config.acquisitions, plans):  # the round's figures count what was clicked
        assert history[0][name] == np.bincount([LABELS.index(lab) for lab, _ in plan], minlength=3).tolist()


def _outward_address() -> str | None:
    """This machine's address on its default route, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url + "api/labels", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_bad_labels_get_a_400_shown_on_the_page_and_a_timeout_is_an_error(browser):
    tasks, data, sim = real_model()
    # a real decoded trajectory: the simulator rolled out from a demonstration's observation and pose
    first = np.flatnonzero(data.episode == 1)[0]
    pose = simmod.pose_of(data.prev_position[first:first + 1], data.prev_yaw[first:first + 1])
    actions = simmod.action_onehot(data.action[first:first + 3][None])
    _, _, quantities = simmod.imagine(sim, jnp.asarray(data.obs[first:first + 1]), jnp.asarray(pose), actions)
    trajectory = np.asarray(quantities[0])  # [4, 6]: 3 transitions
    labeler = HumanLabeler(data.task(1), port=0, timeout=120)
    out: dict = {}
    try:
        thread = threading.Thread(target=lambda: out.setdefault("result", labeler.label(trajectory)), daemon=True)
        thread.start()
        payload = open_batch(browser, labeler.server.url, 1)
        np.testing.assert_allclose(payload["queries"][0], trajectory, atol=1e-4)
        check_drawing(browser, payload, data.task(1))

        url = labeler.server.url
        status, body = _post(url, {"batch": 1, "labels": ["good", "maybe", "neutral"], "rules": [[0, 0]] * 3})
        assert status == 400 and "labels[1]='maybe' is not one of the three classes" in body["error"]
        status, body = _post(url, {"batch": 1, "labels": ["unsafe", "good", "neutral"], "rules": [[0, 0]] * 3})
        assert status == 400 and "contradicts label 'unsafe'" in body["error"]
        status, body = _post(url, {"batch": 1, "labels": ["good"], "rules": [[0, 0]]})
        assert status == 400 and "expected a list of 3 entries" in body["error"]
        status, body = _post(url, {"batch": 7, "labels": ["good"] * 3, "rules": [[0, 0]] * 3})
        assert status == 409 and "batch=7" in body["error"]

        # the page: labels clicked, one replaced by "maybe" as a broken client would send it; the server's
        # message appears on the page and the batch still waits
        click_labels(browser, [("neutral", ()), ("unsafe", ("fall",)), ("good", ())], use_keys=False)
        browser.execute_script("window.labeler.labels[2] = 'maybe'")
        submit(browser)
        assert browser.execute_script("return window.labeler.lastStatus") == 400
        shown = browser.execute_script("return document.getElementById('message').innerText")
        assert "HTTP 400" in shown and "'maybe'" in shown, shown
        assert browser.execute_script("return document.getElementById('message').dataset.kind") == "error"
        assert "result" not in out and thread.is_alive()

        browser.execute_script("document.getElementById('cell-2').click(); document.getElementById('label-good').click()")
        wait_for(browser, "window.labeler.labels[2] === 'good'")
        submit(browser)
        assert browser.execute_script("return window.labeler.submitted")
        thread.join(timeout=30)
        classes, rules = out["result"]
        assert classes.tolist() == [1, 0, 2] and rules.tolist() == [[False, False], [False, True], [False, False]]
        assert classes.dtype == np.int64 and rules.dtype == bool
        wait_for(browser, "document.body.dataset.state === 'waiting'")

        # nobody labels: a clear error naming the address and the timeout
        labeler.timeout = 0.3
        with pytest.raises(TimeoutError, match=r"no valid labels for batch 2 .* at http://127\.0\.0\.1:\d+/ within timeout=0\.3 s"):
            labeler.label(trajectory[None])
        assert _post(url, {"batch": 2, "labels": ["good"] * 3, "rules": [[0, 0]] * 3})[0] == 409
        taken = labeler.server.server_address[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{taken}"):
            HumanLabeler(data.task(1), port=taken)
    finally:
        labeler.close()
    with pytest.raises(ValueError, match="port=70000"):
        HumanLabeler(data.task(1), port=70000)
    with pytest.raises(ValueError, match=r"expected \[\.\.\., T \+ 1, 6\]"):
        HumanLabeler.label(labeler, trajectory[:1])
