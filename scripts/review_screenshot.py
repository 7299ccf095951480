"""The README's picture of the review page: a prediction folder's review.html in headless Chromium.

    python scripts/review_screenshot.py PREDICTION_FOLDER docs/review.png [--at SECONDS]

Uses the tests' DevTools driver (tests/browser.py) and the operating system's chromium."""

import argparse
import base64
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from browser import Browser, find_browser  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("out")
    ap.add_argument("--at", type=float, default=None, help="seek here first (default: a third of the way)")
    args = ap.parse_args()
    b = Browser(find_browser() or sys.exit("no chromium"))
    try:
        b.send("Emulation.setDeviceMetricsOverride", width=1280, height=720, deviceScaleFactor=1, mobile=False)
        b.open((Path(args.folder) / "review.html").resolve().as_uri())
        b.wait_for("document.getElementById('video').readyState >= 2")
        at = args.at if args.at is not None else b.evaluate("document.getElementById('video').duration / 3")
        b.evaluate(f"lrcnReview.seek({at})")
        b.wait_for("document.getElementById('video').readyState >= 2")
        png = b.send("Page.captureScreenshot", format="png")["data"]
        Path(args.out).write_bytes(base64.b64decode(png))
    finally:
        b.close()


if __name__ == "__main__":
    main()
