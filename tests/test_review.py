"""The review page (lrcn predict --html, lrcn review) in a real browser: headless Chromium, the
operating system's, driven over the DevTools protocol (tests/browser.py)."""

import json
from pathlib import Path

import pytest

from browser import Browser, find_browser
from lrcn.cli import main


@pytest.fixture(scope="module")
def browser():
    executable = find_browser()
    if not executable:
        pytest.skip("no chromium on this machine (scripts/setup.sh installs Debian's)")
    b = Browser(executable)
    yield b
    b.close()


def _offline(requests: list[str]) -> list[str]:
    return [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]


def test_predict_html_writes_a_page_of_its_segments_and_the_page_edits_them(trained, tiny_dataset, tmp_path, browser):
    from lrcn.datasets import load_dataset
    from lrcn.predict import PredictConfig, run as predict
    from lrcn.synth import annotated_long_videos

    ckpt, _ = trained
    source = load_dataset(tiny_dataset)
    ((video, rows),) = annotated_long_videos(tiny_dataset, source, source.items, tmp_path / "long", 1, seed=3,
                                              actions=(3, 3))
    (result,), failures = predict(PredictConfig(str(ckpt), (str(video),), str(tmp_path / "p"), annotate=False,
                                                progress=False, html=True, truth=str(video.with_suffix(".csv"))))
    folder = Path(result["out_dir"])
    page = folder / "review.html"
    assert not failures and result["review"] == str(page)
    browser.requests.clear()
    browser.open(page.as_uri())
    assert browser.evaluate("document.querySelectorAll('#rows tr').length") == len(result["segments"])
    assert browser.evaluate("lrcnReview.segments().map(s => s.label)") == [s["label"] for s in result["segments"]]

    # The truth's three actions as the prediction (an untrained model may say one thing throughout): edits need
    # segments to work on. lrcn review writes the page again for the changed folder.
    saved = json.loads((folder / "predictions.json").read_text())
    classes = saved["classes"]
    saved["segments"] = [{"start": s, "end": e, "label": name, "confidence": 0.9,
                          "top": [{"label": name, "probability": 0.9}]} for s, e, name in rows]
    (folder / "predictions.json").write_text(json.dumps(saved))
    assert main(["review", str(folder)]) == 0
    browser.open(page.as_uri())
    browser.wait_for("document.getElementById('video').readyState >= 1")  # the H.264 video plays here
    duration = browser.evaluate("document.getElementById('video').duration")
    assert abs(duration - rows[-1][1]) < 0.2

    # The timeline shows each predicted segment in its class's colour.
    colours = browser.evaluate("""(() => { const c = document.getElementById('timeline');
        const ctx = c.getContext('2d'), d = %f;
        return lrcnReview.segments().map(s => Array.from(ctx.getImageData(Math.floor((s.start + s.end) / 2 / d * c.width),
                                                                              27, 1, 1).data)); })()""" % duration)
    assert all(c[3] == 255 and c[:3] != [255, 255, 255] for c in colours)
    assert all(a != b for a, b in zip(colours, colours[1:]))  # neighbours differ: different classes

    # Clicking a segment in the list seeks the video to its start.
    browser.click("#rows tr:nth-child(2)")
    browser.wait_for(f"Math.abs(document.getElementById('video').currentTime - {rows[1][0]}) < 0.05")
    browser.click("#rows tr:nth-child(3)")
    browser.wait_for(f"Math.abs(document.getElementById('video').currentTime - {rows[2][0]}) < 0.05")
    browser.key("p")  # back to the previous segment's start, then on to the next
    browser.wait_for(f"Math.abs(document.getElementById('video').currentTime - {rows[1][0]}) < 0.05")
    browser.key("n")
    browser.wait_for(f"Math.abs(document.getElementById('video').currentTime - {rows[2][0]}) < 0.05")
    browser.key(" ")  # play, then pause
    browser.wait_for("!document.getElementById('video').paused")
    browser.key(" ")
    browser.wait_for("document.getElementById('video').paused")

    # Relabel the second segment, split the first at its middle, download: the CSV says exactly that.
    browser.click("#rows tr:nth-child(2)")
    browser.wait_for(f"Math.abs(document.getElementById('video').currentTime - {rows[1][0]}) < 0.05")
    other = next(c for c in classes if c not in (rows[1][2], rows[0][2]))
    browser.evaluate(f"(() => {{ const s = document.getElementById('label'); s.value = {json.dumps(other)}; "
                     "s.dispatchEvent(new Event('change', {bubbles: true})); })()")
    middle = round((rows[0][0] + rows[0][1]) / 2, 2)
    browser.evaluate(f"lrcnReview.seek({middle})")
    browser.wait_for(f"Math.abs(document.getElementById('video').currentTime - {middle}) < 0.05")
    browser.key("s")
    browser.click("#download")
    csv = browser.wait_for("lrcnReview.lastDownload")
    got = [line.split(",") for line in csv.strip().splitlines()]
    assert got[0] == ["start", "end", "label"]
    expected = [(rows[0][0], middle, rows[0][2]), (middle, rows[0][1], rows[0][2]), (rows[1][0], rows[1][1], other),
                (rows[2][0], rows[2][1], rows[2][2])]
    assert [name for _, _, name in got[1:]] == [name for _, _, name in expected]
    assert [(float(s), float(e)) for s, e, _ in got[1:]] == [pytest.approx((s, e), abs=2e-3) for s, e, _ in expected]

    # Move a boundary to the playhead, merge, undo everything.
    browser.evaluate(f"lrcnReview.seek({rows[1][0] + 0.4})")
    browser.key("[")  # the third segment (the relabelled one) now starts 0.4 s later
    assert browser.evaluate("lrcnReview.segments()[2].start") == pytest.approx(rows[1][0] + 0.4, abs=0.02)
    browser.key("m")
    assert browser.evaluate("lrcnReview.segments().length") == 3
    for _ in range(4):
        browser.key("u")
    assert [(s["start"], s["end"], s["label"]) for s in browser.evaluate("lrcnReview.segments()")] == \
        [tuple(r) for r in rows]
    # The file lrcn train reads: the downloaded CSV parses as an annotation with the four segments.
    from lrcn.annotations import parse_rows

    (tmp_path / "fixed.csv").write_text(csv)
    parsed, problems = parse_rows(tmp_path / "fixed.csv")
    assert not problems and len(parsed) == 4
    assert _offline(browser.requests) == []  # nothing fetched from the network


def test_a_one_hour_prediction_paints_and_seeks_fast(tmp_path, browser, capsys):
    """9,000 sampled frames, 400 segments, Kinetics-400's 400 classes: the page's own timings, printed."""
    classes = [f"class {k:03d}" for k in range(400)]
    folder = tmp_path / "hour"
    folder.mkdir()
    segments = [{"start": 9.0 * k, "end": 9.0 * (k + 1), "label": classes[(7 * k) % 400], "confidence": 0.6,
                 "top": [{"label": classes[(7 * k + j) % 400], "probability": 0.6 / (j + 1)} for j in range(5)]}
                for k in range(400)]
    frames = [{"time": round(0.4 * k, 3), "label": segments[int(0.4 * k // 9)]["label"], "probability": 0.5}
              for k in range(9000)]
    (folder / "predictions.json").write_text(json.dumps({"video": str(tmp_path / "gone.mp4"), "classes": classes,
                                                         "fps": 2.5, "frames": frames, "segments": segments}))
    assert main(["review", str(folder)]) == 0  # the video is not there: the page works without it
    browser.requests.clear()
    browser.open((folder / "review.html").as_uri())
    paint = browser.wait_for("(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
    seek = browser.evaluate("""(() => { const t0 = performance.now();
        document.querySelector('#rows tr:nth-child(300)').click(); return performance.now() - t0; })()""")
    split = browser.evaluate("""(() => { lrcnReview.seek(299 * 9 + 4.5); const t0 = performance.now();
        lrcnReview.edit.split(299 * 9 + 4.5); return performance.now() - t0; })()""")
    assert browser.evaluate("lrcnReview.segments().length") == 401
    assert browser.evaluate("lrcnReview.indexAt(299 * 9 + 5)") == 300
    with capsys.disabled():
        print(f"\nreview page, 1 hour (9,000 frames, 400 segments, 400 classes): first paint {paint:.0f} ms, "
              f"a seek from the list {seek:.1f} ms, a split {split:.1f} ms")
    assert paint < 10_000 and seek < 1_000 and split < 2_000
    assert _offline(browser.requests) == []
