"""The user's day, in a real browser: load into a workspace, move a sample in the App, run
``python -m training.finetune --epochs 2 --backbone tiny --device cpu`` with no --manifest and no --out,
then find the new evaluation in FiftyOne's Model Evaluation panel and a class's failures from it.

Screenshots go to ``$DRAWNET_TEST_ARTIFACTS`` (default ``test-artifacts/``): user-day-*.png.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curation.load import get_args_parser as load_args
from curation.load import main as load_main
from datasets.manifest import read_manifest, write_jsonl
from tests.test_browser import ARTIFACTS, CHROMIUM, ServedApp, require_browser
from tests.test_finetune import make_dataset

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow, pytest.mark.browser]
ROOT = Path(__file__).resolve().parents[1]
POPUP_SEEN = "localStorage.setItem('fiftyone-enterprise-tooltip-seen', 'true')"  # FiftyOne has no setting for it


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1800, "height": 1000})
    page.add_init_script(POPUP_SEEN)
    page.goto(url)
    page.wait_for_selector("text=ground_truth", timeout=90_000)
    page.wait_for_selector("canvas[canvas-loaded=true]", timeout=60_000)
    page.keyboard.press("Escape")
    time.sleep(1)
    return page


def goto_view(page, url: str, shown: str, tries: int = 3) -> None:
    """Open a saved view's URL until the grid shows ``shown`` ("1 sample"): the App's Python session, when it
    connects late ("Could not connect session, trying again in 10 seconds", seen once in a fresh-clone CI run),
    pushes its own view over the one the URL asked for."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(tries):
        page.goto(url)
        try:
            page.wait_for_selector(f"text={shown}", timeout=40_000)
            return
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise


def move_view(page, to_label: str, wnid: str) -> None:
    """Move the samples of the current view with the curation plugin's operator (nothing selected: the view).

    The grid's selection is not used: a tile can show as checked before the App sends it with the operator,
    which then acts on the whole view (seen once in a fresh-clone CI run)."""
    page.keyboard.press("`")
    page.keyboard.type("Move to class")
    time.sleep(1)
    page.keyboard.press("Enter")
    page.get_by_placeholder("Type or select a value").click()
    page.keyboard.type(to_label)
    page.get_by_role("option").filter(has_text=wnid).first.click()
    page.get_by_role("button", name="Execute").click()
    time.sleep(3)


def test_the_users_day(fiftyone, tmp_path):
    from playwright.sync_api import sync_playwright

    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    workspace = tmp_path / "workspace"
    manifest = make_dataset(tmp_path / "data")
    rows = read_manifest(manifest)
    shifted = [r for r in rows if r["split"] == "val"][:3]  # one val image of each class labelled as the next one
    classes = [(r["label"], r["wnid"], r["class_index"]) for r in rows[:3]]
    for k, r in enumerate(shifted):
        r["label"], r["wnid"], r["class_index"] = classes[(k + 1) % 3]
    write_jsonl(manifest, rows)
    assert load_main(load_args().parse_args(["--manifest", str(manifest), "--dataset", "day",
                                             "--workspace", str(workspace)])) == 0
    env = dict(os.environ, DRAWNET_WORKSPACE=str(workspace), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    ds = fiftyone.load_dataset("day")
    ds.save_view("one teapot", ds.match({"image_id": "train000"}))  # the curator's pick

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        # 1. curate: move one sample in the App
        with ServedApp([], env, tmp_path / "app1.log") as app:
            page = open_page(browser, f"http://127.0.0.1:{app.port}/datasets/day")
            page.screenshot(path=str(ARTIFACTS / "user-day-1-before.png"))
            goto_view(page, f"http://127.0.0.1:{app.port}/datasets/day?view=one-teapot", "1 sample")  # one drawing
            page.wait_for_selector("canvas[canvas-loaded=true]", timeout=60_000)
            move_view(page, "umbrella", "n04507155")
            page.screenshot(path=str(ARTIFACTS / "user-day-2-moved.png"))
        ds.reload()
        log = ds.info["curation_log"]
        record = [json.loads(line) for line in Path(log).read_text().splitlines()][-1]
        assert record["action"] == "move" and record["to"]["wnid"] == "n04507155"
        assert record["image_ids"] == ["train000"]
        moved = "train000"

        # 2. train, nothing else
        start = time.time()
        done = subprocess.run([sys.executable, "-m", "training.finetune", "--epochs", "2", "--backbone", "tiny",
                               "--device", "cpu"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        print(f"training.finetune: {time.time() - start:.1f} s")
        (run,) = (workspace / "runs").iterdir()
        assert run.name == "001-tiny-optimal"
        rows = {r["id"]: r for r in read_manifest(run / "data" / "manifest.jsonl")}
        assert rows[moved]["wnid"] == "n04507155" and rows[moved]["original_wnid"] != "n04507155"
        source = json.loads((run / "source.json").read_text())
        assert source["dataset"] == "day" and source["log_seq"] == record["seq"]
        ds.reload()
        assert {"run001_head_top1", "run001_svm_top1"} <= set(ds.list_evaluations())

        # 3. the App opens on the latest evaluation; a class's failures from the panel
        from fiftyone import ViewField as F

        latest = "run001_svm"
        failures = ds.load_saved_view(f"{latest}: failures")
        label = "teapot"
        expected = failures.match(F("ground_truth.label") == label)
        assert len(failures) and len(expected)
        with ServedApp([], env, tmp_path / "app2.log") as app:
            page = open_page(browser, f"http://127.0.0.1:{app.port}/datasets/day")
            page.wait_for_selector("text=Class Performance", timeout=60_000)  # the panel, on an evaluation...
            assert page.locator(f"text={latest}_top1 >> visible=true").count()  # ...the latest one
            page.wait_for_selector(f"text={len(failures)} samples", timeout=60_000)  # the grid: its failures
            page.screenshot(path=str(ARTIFACTS / "user-day-3-evaluation.png"))
            page.get_by_text("Class Performance").click()  # the per-class rows, as bars
            time.sleep(2)
            chart = page.locator(".js-plotly-plot").filter(has_text=label).first
            chart.scroll_into_view_if_needed()
            time.sleep(1)
            ticks = [t.text_content() for t in chart.locator("g.xtick text").all()]
            assert set(ticks) == {"teapot", "umbrella", "crane (n02012849)"}, ticks
            bar = chart.locator("g.trace.bars g.point path").nth(ticks.index(label)).bounding_box()
            page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] - 3)  # click the class
            page.wait_for_selector(f"text={len(expected)} sample", timeout=30_000)
            time.sleep(2)
            page.screenshot(path=str(ARTIFACTS / "user-day-4-class-failures.png"))
        browser.close()
