"""``openland report``: the page of a real ``openland train --local`` run opens in headless Chromium without
errors, holds every plot (or says why one cannot exist for this kind of run), and its episode links open the
viewer. The population side (PBT, league) is checked on the real Ray run of tests/test_cluster_submit.py."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from launch.cli import main as cli_main
from tests.test_viewer import chrome, severe_logs, tiny_run, wait_for
from viewer.report import PLOTS, read_run, write_report
from viewer.server import start_server

pytestmark = pytest.mark.xdist_group("viewer")  # with tests/test_viewer.py: one tiny run for both
ALL_PLOTS = ("returns", "success", "pbt", "league", "evaluation", "probes", "curriculum")


def check_report_page(driver, run_dir, present: tuple[str, ...]) -> None:
    """Open RUN/report.html through the viewer, check every plot, then follow an episode link into the viewer."""
    server = start_server(run_dir)
    try:
        driver.get(server.url + "report.html")
        wait_for(driver, "document.readyState === 'complete'")
        for key in ALL_PLOTS:
            found = driver.execute_script(
                f"return [!!document.getElementById('plot-{key}'), !!document.getElementById('absent-{key}')]")
            assert found == [key in present, key not in present], (key, found)
        images = driver.execute_script(
            "return Array.from(document.querySelectorAll('figure.plot img')).map(i => [i.complete, i.naturalWidth])")
        assert len(images) == len(present) and all(ok and w > 100 for ok, w in images), images
        links = driver.execute_script("return Array.from(document.querySelectorAll('a.episode')).map(a => a.textContent)")
        assert links == read_run(run_dir).episodes and links
        assert severe_logs(driver) == []
        driver.execute_script("document.querySelector('a.episode').click()")
        wait_for(driver, "window.viewer && window.viewer.ready")
        assert not driver.execute_script("return document.body.dataset.error")
        assert driver.execute_script("return window.viewer.path") == links[0]
        assert severe_logs(driver) == []
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


def test_report_of_a_local_run(browser, tmp_path, capsys):
    run_dir = tmp_path / "tiny"
    shutil.copytree(tiny_run(), run_dir)
    cli_main(["report", str(run_dir)])
    assert "report ->" in capsys.readouterr().out
    check_report_page(browser, run_dir, present=("returns", "success"))
    html = (run_dir / "report.html").read_text()
    assert "single-process run" in html  # why there is no PBT or league plot


def test_report_plots_an_evaluation_report_and_curriculum_statistics(browser, tmp_path):
    """Evaluation percentiles from curriculum.evaluation's own JSON, and curriculum metrics, when a run has them."""
    from curriculum.evaluation import EvalTable, evaluate

    run_dir = tmp_path / "tiny"
    shutil.copytree(tiny_run(), run_dir)
    table = EvalTable(agents=("agent", "random"), co_players=("random",), task_ids=("a", "b", "c"),
                      kinds=("single", "single", "single"), num_players=(1, 1, 1),
                      returns=np.array([[[0.5], [0.2], [0.9]], [[0.1], [0.1], [0.3]]]))  # fmt: skip
    (run_dir / "evaluation.json").write_text(evaluate(table, ("agent", "random")).to_json())
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"step": 600, "curriculum/kept_share": 0.4, "curriculum/tasks": 12}\n')
    write_report(run_dir)
    check_report_page(browser, run_dir, present=("returns", "success", "evaluation", "curriculum"))


def test_report_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        write_report(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match="metrics.jsonl line 2 is not JSON"):
        write_report(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "train_return": 2.0}\n{"step": 2, "tra')  # cut by a crash
    assert len(read_run(tmp_path).metrics) == 1
    assert len(PLOTS) == len(ALL_PLOTS)
