"""The App in a real browser (Debian chromium through Playwright): thumbnails, a failures view, moving a sample.

Screenshots go to ``$DRAWNET_TEST_ARTIFACTS`` (default ``test-artifacts/``) for a person to look at.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from curation.load import load
from curation.log import read_jsonl_log
from tests.conftest import make_manifest

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("DRAWNET_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


def require_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        playwright_missing = True
    else:
        playwright_missing = False
    if playwright_missing or not Path(CHROMIUM).exists():
        why = "playwright is not installed" if playwright_missing else f"no chromium at {CHROMIUM}"
        if os.environ.get("CI"):
            pytest.fail(f"{why}: make test installs Debian chromium and the test extras")
        pytest.skip(why)


def select_first_tile(page) -> None:
    """Select the grid's first tile, and wait until the App's own selection count says so: a click before the
    tile has settled selects nothing, and an operator run with nothing selected acts on the whole view."""
    tile = page.locator("[data-cy=looker]").first
    # the selection count: in the grid's header, or as the action bar's badge when the grid is narrow
    count = page.locator("[data-cy=selection-count-container], [data-cy=action-manage-selected]")
    for _ in range(5):
        tile.hover()
        time.sleep(0.5)
        if not tile.locator("input[type=checkbox]").is_checked():
            tile.locator("[title^='Click to select sample']").click()
        time.sleep(1)
        if count.count() and count.first.inner_text().strip().startswith("1"):
            break
    assert count.count() and count.first.inner_text().strip().startswith("1"), "the App did not register the selection"
    time.sleep(1)


def run_operator(page, label: str) -> None:
    """Open the operator palette, pick the operator whose label starts with ``label``, and wait for its form."""
    page.keyboard.press("`")  # the operator palette
    page.keyboard.type(label)
    time.sleep(1)
    page.keyboard.press("Enter")


def execute_form(page) -> None:
    """Click the operator form's Execute once it has settled, and wait for the form to close. A dynamic form
    re-renders while the App resolves it, and a click during that is lost: then it is clicked again (the
    form closes as soon as a click starts the operator, so it never runs twice)."""
    from playwright.sync_api import expect

    button = page.get_by_role("button", name="Execute")
    expect(button).to_be_enabled(timeout=10_000)
    time.sleep(1)
    for attempt in range(3):
        button.click()
        try:
            expect(button).to_be_hidden(timeout=10_000)
            return
        except AssertionError:
            if attempt == 2 or not button.is_enabled():  # disabled: the operator runs, a click would not be lost
                raise


def move_first_tile(page, name: str, wnid: str, screenshot: Path | None = None) -> None:
    """Select the grid's first tile and move it to the class (typed ``name``, picked by ``wnid``)."""
    from playwright.sync_api import expect

    select_first_tile(page)
    run_operator(page, "Move to class")
    field = page.get_by_placeholder("Type or select a value")
    field.click()
    page.keyboard.type(name)
    page.get_by_role("option").filter(has_text=wnid).first.click()
    expect(page.get_by_role("button", name="Execute")).to_be_enabled(timeout=10_000)
    if screenshot:
        page.screenshot(path=str(screenshot))
    page.get_by_role("button", name="Execute").click()


def open_grid(page, url: str, samples: int) -> None:
    page.goto(url)
    page.wait_for_selector(f"text={samples} samples", timeout=90_000)
    page.wait_for_selector("canvas[canvas-loaded=true]", timeout=60_000)
    if page.get_by_role("button", name="Dismiss").count():  # the "Explore Enterprise" popup
        page.get_by_role("button", name="Dismiss").click()
    page.keyboard.press("Escape")
    time.sleep(1)


class ServedApp:
    """``python -m curation.app ARGS`` on a free port, ready once it says it serves (its session holds the view
    and the space by then; the port answers earlier); stopped on exit."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.port, self.log = free_port(), log
        with open(log, "w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "curation.app", *args, "--port", str(self.port)],
                                         cwd=Path(__file__).resolve().parents[1], env=env, stdout=out,
                                         stderr=subprocess.STDOUT, text=True)

    def __enter__(self):
        deadline = time.time() + 120
        while "The App is serving" not in self.log.read_text():
            if self.proc.poll() is not None:
                pytest.fail(f"curation.app exited: {self.log.read_text()}")
            if time.time() > deadline:
                pytest.fail("curation.app did not serve within 120 s")
            time.sleep(0.5)
        urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=30)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app(fiftyone, tmp_path):
    """A dataset with baseline predictions written back, served by ``python -m curation.app``."""
    from curation.writeback import get_args_parser, main
    from evaluation.results import write_method

    require_browser()
    manifest = make_manifest(tmp_path, n=9)
    load(manifest, "browser")
    ds = fiftyone.load_dataset("browser")
    ids, labels, splits = (np.asarray(v) for v in ds.values(["image_id", "class_index", "split"]))
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(len(ids), 1000)).astype(np.float32)
    scores[np.arange(len(ids)), labels] += 2.0
    teapots = labels == 849
    scores[teapots, 879] += 10.0  # every teapot is taken for an umbrella
    order = np.argsort(-scores, axis=1)
    rank = np.argmax(order == labels[:, None], axis=1)
    logp = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    write_method(tmp_path / "results", "baseline", {"val": {}}, {
        "ids": ids.astype(object), "splits": splits.astype(object), "labels": labels, "pred": order[:, 0],
        "top5": order[:, :5], "scores": np.exp(logp).astype(np.float16), "true_rank": rank,
        "cross_entropy": -logp[np.arange(len(ids)), labels], "classes": np.arange(1000)})
    assert main(get_args_parser().parse_args(["--dataset", "browser", "--results", str(tmp_path / "results"),
                                              "--method", "baseline", "--name", "baseline"])) == 0
    with ServedApp(["--dataset", "browser"], os.environ.copy(), tmp_path / "app.log") as served:
        yield ds, f"http://127.0.0.1:{served.port}/datasets/browser"


def test_curate_in_the_app(app):
    from playwright.sync_api import sync_playwright

    ds, url = app
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    view = "baseline: failures"  # every teapot is taken for an umbrella: 3 teapot failures, the worst first
    assert ds.has_saved_view(view)
    slug = ds._get_saved_view_doc(view).slug
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        failures = len(ds.load_saved_view(view))
        page.goto(url)
        page.wait_for_selector(f"text={failures} samples", timeout=90_000)  # it opens on the latest failures
        page.wait_for_selector("text=ground_truth", timeout=90_000)
        page.wait_for_selector("canvas[canvas-loaded=true]", timeout=60_000)
        if page.get_by_role("button", name="Dismiss").count():  # the "Explore Enterprise" popup
            page.get_by_role("button", name="Dismiss").click()
        page.keyboard.press("Escape")
        time.sleep(1)
        page.screenshot(path=str(ARTIFACTS / "app-grid.png"))
        # the thumbnails are the drawings: the centre pixel of each is the ellipse's colour, not blank
        centres = page.evaluate("""() => Array.from(document.querySelectorAll('canvas[canvas-loaded=true]')).map(c => {
            const d = c.getContext('2d').getImageData(c.width / 2 | 0, c.height / 2 | 0, 1, 1).data;
            return [d[0], d[1], d[2]]; })""")
        assert len(centres) == failures and all(c != [255, 255, 255] and c != [0, 0, 0] for c in centres), centres
        assert page.get_by_text(f"{failures} samples").count()

        page.goto(f"{url}?view={slug}")
        page.wait_for_selector(f"text={failures} samples", timeout=60_000)
        page.wait_for_selector("canvas[canvas-loaded=true]", timeout=60_000)
        page.keyboard.press("Escape")
        page.screenshot(path=str(ARTIFACTS / "app-teapot-failures.png"))
        move_first_tile(page, "hammer", "n03481172", ARTIFACTS / "app-move-to-class.png")
        page.wait_for_selector("text=hammer", timeout=30_000)  # the moved tile's new label
        page.screenshot(path=str(ARTIFACTS / "app-after-move.png"))
        browser.close()

    ds.reload()
    moved = ds.match({"ground_truth.label": "hammer"})
    assert len(moved) == 1 and moved.first().wnid == "n03481172" and moved.first().review == "accepted"
    record = read_jsonl_log(ds.info["curation_log"])[-1]
    assert record["action"] == "move" and record["to"]["wnid"] == "n03481172"
    assert record["image_ids"] == moved.values("image_id")


@pytest.fixture
def suggestions_app(fiftyone, tmp_path):
    """Unlabelled samples with suggestions written back, the App opened on "suggestions to review"."""
    from curation.writeback import get_args_parser, main
    from tests.test_suggestions import LINES, manifest_with_unlabelled, write_suggest_folder

    require_browser()
    load(manifest_with_unlabelled(tmp_path), "browser-suggest")
    folder = write_suggest_folder(tmp_path / "suggest", LINES)
    assert main(get_args_parser().parse_args(["--dataset", "browser-suggest", "--results", str(folder),
                                              "--method", "suggest"])) == 0
    args = ["--dataset", "browser-suggest", "--view", "suggestions to review"]
    with ServedApp(args, os.environ.copy(), tmp_path / "app.log") as served:
        yield fiftyone.load_dataset("browser-suggest"), f"http://127.0.0.1:{served.port}/datasets/browser-suggest"


def test_review_suggestions_in_the_app(suggestions_app, tmp_path):
    """The whole loop: unlabelled samples, their suggestions, one accepted in the App; its label, log and export."""
    from playwright.sync_api import expect, sync_playwright

    from curation.export import export
    from datasets.manifest import read_manifest
    from tests.test_suggestions import FREE, UMBRELLA

    ds, url = suggestions_app
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(url)
        page.wait_for_selector("text=3 samples", timeout=90_000)  # the three suggestions, umbrella (0.97) first
        page.wait_for_selector("canvas[canvas-loaded=true]", timeout=60_000)
        if page.get_by_role("button", name="Dismiss").count():  # the "Explore Enterprise" popup
            page.get_by_role("button", name="Dismiss").click()
        page.keyboard.press("Escape")
        time.sleep(1)
        page.wait_for_selector("text=umbrella", timeout=30_000)  # the tiles show the suggested class
        page.screenshot(path=str(ARTIFACTS / "app-suggestions-to-review.png"))
        select_first_tile(page)
        page.keyboard.press("`")  # the operator palette
        page.keyboard.type("Accept suggestion")
        time.sleep(1)
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name="Execute")).to_be_enabled(timeout=10_000)
        page.get_by_role("button", name="Execute").click()
        page.wait_for_selector("text=2 samples", timeout=30_000)  # accepted: it has left the review view
        time.sleep(1)
        page.screenshot(path=str(ARTIFACTS / "app-after-accept-suggestion.png"))
        browser.close()

    ds.reload()
    s = ds.match({"image_id": FREE[1]}).first()
    assert (s.ground_truth.label, s.wnid, s.review) == ("umbrella", UMBRELLA, "accepted")
    record = read_jsonl_log(ds.info["curation_log"])[-1]
    assert (record["action"], record["via"], record["to"]["wnid"], record["image_ids"]) == (
        "move", "suggestion", UMBRELLA, [FREE[1]])
    assert record["before"] == {FREE[1]: [None, None, None, None]}
    export("browser-suggest", tmp_path / "exported")
    rows = {r["id"]: r for r in read_manifest(tmp_path / "exported" / "manifest.jsonl")}
    assert rows[FREE[1]]["label"] == "umbrella" and rows[FREE[1]]["review"] == "accepted"
    assert not set(FREE) - {FREE[1]} & set(rows)  # the others are still unlabelled: not exported


def test_two_app_sessions_curate_one_dataset(fiftyone, tmp_path):
    """Two App servers (two curators, no login) on one dataset, a page each: each moves its own sample; both
    moves are logged and applied; the first curator's undo takes back its own move, not the other's later one."""
    from playwright.sync_api import expect, sync_playwright

    from curation.log import CurationLog

    require_browser()
    load(make_manifest(tmp_path, n=9), "browser-team")
    ds = fiftyone.load_dataset("browser-team")
    ds.save_view("curator a", ds.match({"ground_truth.label": "teapot"}))
    ds.save_view("curator b", ds.match({"ground_truth.label": "umbrella"}))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy()
    with ServedApp(["--dataset", ds.name, "--view", "curator a"], env, tmp_path / "a.log") as a, \
            ServedApp(["--dataset", ds.name, "--view", "curator b"], env, tmp_path / "b.log") as b, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        pages = {}
        for who, served in (("a", a), ("b", b)):
            pages[who] = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
            open_grid(pages[who], f"http://127.0.0.1:{served.port}/datasets/browser-team", 3)
        for who in pages:  # the moved sample leaves the page's view (a label of three)
            move_first_tile(pages[who], "hammer", "n03481172")
            pages[who].wait_for_selector("text=2 samples", timeout=30_000)
        for who in pages:
            pages[who].screenshot(path=str(ARTIFACTS / f"app-team-{who}-after-move.png"))
        moved = {r["curator"]: r["image_ids"] for r in CurationLog(ds).records()}
        assert len(moved) == 2 and all(len(i) == 1 for i in moved.values())

        page = pages["a"]  # curator a undoes: its own move, although b acted last
        run_operator(page, "Curation: undo")
        expect(page.get_by_role("button", name="Execute")).to_be_enabled(timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "app-team-a-undo.png"))
        page.get_by_role("button", name="Execute").click()
        page.wait_for_selector("text=3 samples", timeout=30_000)  # the teapot is back in a's view
        time.sleep(1)
        page.screenshot(path=str(ARTIFACTS / "app-team-a-after-undo.png"))
        browser.close()

    ds.reload()
    records = CurationLog(ds).records()
    assert [r["action"] for r in records] == ["move", "move", "undo"]
    first, second, undo = records
    assert first["curator"] != second["curator"] and undo["curator"] == first["curator"]
    assert undo["undoes"] == first["id"]
    state = dict(zip(*ds.values(["image_id", "ground_truth.label"])))
    assert state[first["image_ids"][0]] == "teapot" and state[second["image_ids"][0]] == "hammer"
    assert read_jsonl_log(ds.info["curation_log"]) == records


def test_label_check_in_the_app(fiftyone, tmp_path):
    """evaluation.verify's doubts in the App: the saved view "label check" (rejected teapots, the worst mapping
    first, then an unsure umbrella); a rejected label confirmed through the operator palette, logged as a move."""
    from playwright.sync_api import sync_playwright

    from curation.views import LABEL_CHECK
    from tests.test_label_check import TEAPOT, verified_manifest

    require_browser()
    load(verified_manifest(tmp_path), "browser-label-check")
    ds = fiftyone.load_dataset("browser-label-check")
    assert len(ds.load_saved_view(LABEL_CHECK)) == 3
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    args = ["--dataset", ds.name, "--view", LABEL_CHECK]
    with ServedApp(args, os.environ.copy(), tmp_path / "app.log") as served, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        open_grid(page, f"http://127.0.0.1:{served.port}/datasets/{ds.name}", 3)
        page.wait_for_selector("text=label_check", timeout=30_000)  # the verdict is a field of the sidebar
        page.screenshot(path=str(ARTIFACTS / "app-label-check.png"))
        select_first_tile(page)  # the worst: teapot 3, rejected
        run_operator(page, "Confirm label")
        execute_form(page)  # beside the Label check panel, which updates itself meanwhile
        page.wait_for_selector("text=2 samples", timeout=30_000)  # confirmed: it has left the view
        time.sleep(1)
        page.screenshot(path=str(ARTIFACTS / "app-after-confirm-label.png"))
        browser.close()

    ds.reload()
    s = ds.match({"image_id": f"{3:064x}"}).first()
    assert (s.ground_truth.label, s.wnid, s.review) == ("teapot", TEAPOT, "accepted")
    record = read_jsonl_log(ds.info["curation_log"])[-1]
    assert (record["action"], record["via"], record["to"]["wnid"], record["image_ids"]) == (
        "move", "label check", TEAPOT, [f"{3:064x}"])


def wait_until(check, what: str, page=None, timeout: float = 30.0) -> None:
    """Wait for ``check()``; on a timeout, fail with a screenshot of ``page`` in the artifacts."""
    deadline = time.time() + timeout
    while not check():
        if time.time() > deadline:
            if page is not None:
                page.screenshot(path=str(ARTIFACTS / "app-timed-out.png"))
            pytest.fail(f"timed out waiting for {what} (screenshot: {ARTIFACTS / 'app-timed-out.png'})")
        time.sleep(0.5)


def test_decide_mappings_in_the_app(fiftyone, tmp_path):
    """Whole mappings decided in the App, on the saved view "label check" with the Label check panel beside the
    grid: one accepted from a selected tile (operator palette), another shown by the panel and rejected with
    nothing selected, that rejection undone; the states, the log and the rules file after it."""
    from playwright.sync_api import expect, sync_playwright

    from curation import actions
    from curation.curators import curator
    from curation.log import CurationLog
    from curation.views import LABEL_CHECK
    from tests.test_mapping_decisions import BEACH, ID, UMBRELLA, mapped_manifest, rules_file, snapshot

    require_browser()
    load(mapped_manifest(tmp_path), "browser-mappings")
    ds = fiftyone.load_dataset("browser-mappings")
    actions.curate(ds, "reject", [ID[3]], log=CurationLog(ds, curator=curator("tester")))  # fixed one by one
    before = snapshot(ds)
    assert len(ds.load_saved_view(LABEL_CHECK)) == 5  # beach brolly 7, teapots 6 and 0, brollies 1 and 4
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_file = Path(ds.info["curation_log"])
    records = lambda: read_jsonl_log(log_file) if log_file.exists() else []  # noqa: E731
    args = ["--dataset", ds.name, "--view", LABEL_CHECK]
    with ServedApp(args, os.environ.copy(), tmp_path / "app.log") as served, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        url = f"http://127.0.0.1:{served.port}/datasets/{ds.name}"
        open_grid(page, url, 5)
        panel_row = page.get_by_role("row").filter(has_text="teapot → teapot")
        expect(panel_row).to_be_visible(timeout=60_000)  # the Label check panel lists the undecided mappings
        page.screenshot(path=str(ARTIFACTS / "app-label-check-mappings.png"))

        select_first_tile(page)  # the least supported mapping: the phrase "beach brolly", drawing 7
        run_operator(page, "Accept mapping")
        expect(page.get_by_text("'beach brolly → umbrella' (n04507155, eng): 1 drawing")).to_be_visible(
            timeout=10_000)  # the form says which mapping, and how many drawings
        page.screenshot(path=str(ARTIFACTS / "app-accept-mapping.png"))
        execute_form(page)
        page.wait_for_selector("text=4 samples", timeout=30_000)  # decided: it has left the view
        wait_until(lambda: len(records()) == 2, "the accepted mapping's record", page)

        page.get_by_role("button", name="Refresh").click()  # the panel, after a decision made elsewhere
        panel_row = page.get_by_role("row").filter(has_text="teapot → teapot")
        expect(page.get_by_role("row").filter(has_text="beach brolly")).to_have_count(0, timeout=30_000)
        panel_row.get_by_role("button", name="Show").click()  # the grid: that mapping's undecided drawings
        page.wait_for_selector("text=2 samples", timeout=30_000)
        time.sleep(1)
        page.screenshot(path=str(ARTIFACTS / "app-show-mapping.png"))
        run_operator(page, "Reject mapping")  # nothing selected: the one mapping of the view
        expect(page.get_by_text("'teapot → teapot' (n04398044, eng): 2 drawings")).to_be_visible(timeout=10_000)
        execute_form(page)
        wait_until(lambda: len(records()) == 3, "the rejected mapping's record", page)
        expect(page.get_by_role("row").filter(has_text="teapot → teapot")).to_have_count(0, timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "app-after-reject-mapping.png"))  # the panel follows by itself

        run_operator(page, "Curation: undo")
        execute_form(page)
        page.wait_for_selector("text=2 samples", timeout=30_000)  # the rejection undone: the teapots are back
        wait_until(lambda: len(records()) == 4, "the undo's record", page)
        open_grid(page, f"{url}?view={ds._get_saved_view_doc(LABEL_CHECK).slug}", 4)
        page.screenshot(path=str(ARTIFACTS / "app-after-undo-mapping.png"))
        page.get_by_role("row").filter(has_text="brolly → umbrella").get_by_role("button", name="Accept").click()
        wait_until(lambda: len(records()) == 5, "the record of the mapping accepted in the panel", page)
        page.wait_for_selector("text=2 samples", timeout=30_000)  # the teapots are left
        expect(page.get_by_role("row").filter(has_text="brolly → umbrella")).to_have_count(0, timeout=30_000)
        page.wait_for_selector("canvas[canvas-loaded=true]", timeout=30_000)
        time.sleep(1)
        page.screenshot(path=str(ARTIFACTS / "app-panel-accept-mapping.png"))
        browser.close()

    ds.reload()
    logged = CurationLog(ds).records()
    assert logged == read_jsonl_log(log_file)
    assert [(r["action"], r.get("decision"), r.get("mapping_text")) for r in logged] == [
        ("reject", None, None), ("mapping", "accepted", "beach brolly → umbrella"),
        ("mapping", "rejected", "teapot → teapot"), ("undo", None, None),
        ("mapping", "accepted", "brolly → umbrella")]
    assert logged[1]["image_ids"] == [ID[7]] and sorted(logged[2]["image_ids"]) == [ID[0], ID[6]]
    assert logged[3]["undoes"] == logged[2]["id"] and sorted(logged[4]["image_ids"]) == [ID[1], ID[4]]
    assert logged[0]["curator"] != logged[1]["curator"] == logged[3]["curator"] == logged[4]["curator"]
    now, umbrella = snapshot(ds), ["accepted", UMBRELLA, 879, "umbrella"]
    assert now[ID[7]] == [*umbrella, "accepted", UMBRELLA, "umbrella"]
    assert now[ID[1]] == now[ID[4]] == [*umbrella, "accepted", None, None]
    assert {i: s for i, s in now.items() if i not in {ID[1], ID[4], ID[7]}} == {
        i: s for i, s in before.items() if i not in {ID[1], ID[4], ID[7]}}, "the undone rejection left nothing"
    assert [(r["lemma"], r["phrase"], r["decision"], r["record"]) for r in rules_file(ds)] == [
        ("brolly", None, "accepted", logged[4]["id"]), (BEACH["lemma"], BEACH["phrase"], "accepted", logged[1]["id"])]
