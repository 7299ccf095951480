"""The README's "your own videos in five commands" recipe runs as written, on a generated folder of videos."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

#: What the test adds to each command so it runs in seconds on random weights (the commands themselves,
#: their arguments and order are the README's).
FAST = {"train": ["--weights", "none", "--epochs", "2", "--batch-size", "4", "--num-workers", "0", "--views", "center",
                  "--precision", "fp32", "--no-progress"],
        "test": ["--num-workers", "0", "--precision", "fp32", "--no-progress"],
        "predict": ["--no-video", "--no-progress"], "check": ["--workers", "1"]}


def recipe() -> list[list[str]]:
    """The commands of the README block marked ``<!-- recipe`` (comments stripped)."""
    text = README.read_text()
    block = re.search(r"<!-- recipe.*?-->\s*```bash\n(.*?)```", text, re.S)
    assert block, "the README lost its recipe block"
    return [shlex.split(line.split("#")[0]) for line in block.group(1).splitlines() if line.split("#")[0].strip()]


def test_the_recipe_is_five_lrcn_commands():
    commands = recipe()
    assert len(commands) == 5 and all(c[0] == "lrcn" for c in commands)
    assert [c[1] for c in commands] == ["check", "train", "test", "predict", "info"]


@pytest.mark.slow
def test_the_readme_recipe_runs_on_a_folder_of_labelled_videos(tmp_path, make_video):
    import numpy as np

    from lrcn.synth import SynthConfig, generate

    data = Path(generate(SynthConfig(str(tmp_path / "ucf"), num_classes=3, groups=5, clips_per_group=1, width=64,
                                     height=48, min_seconds=2.2, max_seconds=2.6, workers=1), progress=False))
    my_videos = tmp_path / "my_videos"  # the README's layout: one folder per action, no split files
    for video in data.rglob("*.avi"):
        target = my_videos / video.parent.name / video.name
        target.parent.mkdir(parents=True, exist_ok=True)
        video.rename(target)
    recording = make_video("recording.mp4", 150, codec="libx264",
                           frames=np.random.default_rng(0).integers(0, 255, (150, 48, 64, 3), dtype=np.uint8))
    for cmd in recipe():
        args = [recording.name if a == "recording.mp4" else a for a in cmd[1:]]
        proc = subprocess.run([sys.executable, "-m", "lrcn", *args, *FAST.get(cmd[1], [])], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
        if cmd[1] == "predict":  # the recording: make_video wrote it into tmp_path
            assert (tmp_path / "labelled" / "recording" / "segments.csv").is_file(), proc.stderr[-2000:]
        assert proc.returncode == 0, f"{shlex.join(cmd)}: {proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr
        if cmd[1] == "info":
            assert "an lrcn model of 3 classes" in proc.stdout and "test (" in proc.stdout


@pytest.mark.slow
def test_the_wheel_holds_everything_lrcn_needs(tmp_path, trained, tiny_dataset):
    """lrcn is installed from the checkout or a wheel built from it (it is not on the package index): the
    wheel builds, and installed alone — no source tree on the path — it answers --version and predicts.
    Its dependencies come from this environment's site-packages, added as a plain path (so the editable
    install of the checkout is not seen)."""
    import site
    import sysconfig
    import venv

    repo = README.parent
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path / "dist"), str(repo)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("lrcn-*.whl")
    env = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    target = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True).stdout.strip()
    import zipfile

    zipfile.ZipFile(wheel).extractall(target)  # what pip does for a pure-Python wheel, minus the scripts
    deps = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    Path(target, "lrcn_deps.pth").write_text("\n".join(sorted(set(deps))) + "\n")
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    version = subprocess.run([str(python), "-m", "lrcn", "--version"], capture_output=True, text=True, env=clean,
                             cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("lrcn "), version.stderr[-2000:]
    where = subprocess.run([str(python), "-c", "import lrcn; print(lrcn.__file__)"], capture_output=True, text=True,
                           env=clean, cwd=tmp_path).stdout
    assert where.startswith(target), where  # the wheel's copy, not the checkout
    video = sorted(tiny_dataset.rglob("*.avi"))[0]
    run = subprocess.run([str(python), "-m", "lrcn", "predict", str(trained[0]), str(video), "--out-dir",
                          str(tmp_path / "p"), "--no-video", "--no-progress"], capture_output=True, text=True,
                         env=clean, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "p" / video.stem / "segments.csv").is_file()
