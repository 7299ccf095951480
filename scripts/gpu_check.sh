#!/usr/bin/env bash
# The GPU check in one call on a GPU machine (no network there). Before the call, on a machine
# with PyPI, run:  bash scripts/gpu_check.sh --fetch   (downloads PyAV's wheel into .whl/,
# which git ignores; carry .whl to the GPU machine). Then, there:
#   bash scripts/gpu_check.sh [--quick]     -> benchmarks/gpu_check.py's table and gpu_check.json
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fetch" ]; then
    python3 -m pip download -q av==18.1.0 --only-binary=:all: --no-deps \
        --platform manylinux_2_28_x86_64 --python-version 3.12 -d .whl
    ls -l .whl
    exit 0
fi
python3 -c "import av" 2>/dev/null || python3 -m pip install -q --no-index --find-links .whl av
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
PYTHONPATH=src python3 benchmarks/gpu_check.py --device cuda --out "${OUT:-.}/gpu_check.json" "$@"
