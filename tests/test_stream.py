"""lrcn stream: live sources through a pipe and in real time, dropped frames, SIGTERM, online segments."""

import io
import json
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from lrcn.config import Decoding, StreamConfig
from lrcn.decode import decode, runs
from lrcn.stream import LatestSlot, OnlineSegments, run


def _lines(text: str) -> tuple[list[dict], list[dict], dict]:
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    frames = [r for r in records if "label" in r]
    segments = [r["segment"] for r in records if "segment" in r]
    summary = next(r["summary"] for r in records if "summary" in r)
    return frames, segments, summary


def test_a_file_streamed_gives_predicts_window_labels(trained, tiny_dataset, tmp_path):
    """Frame by frame through the ring buffer, the same labels and probabilities as lrcn predict's
    windows (the window ending at each frame), and no frame lost reading a file as fast as it can."""
    from lrcn.predict import PredictConfig
    from lrcn.predict import run as predict

    ckpt, _ = trained
    video = sorted(tiny_dataset.rglob("*.avi"))[0]
    out = io.StringIO()
    summary = run(StreamConfig(str(ckpt), str(video), csv=str(tmp_path / "s.csv"), record=str(tmp_path / "r.mp4"),
                               lag=1000.0, out_dir=str(tmp_path / "o")), out=out)
    frames, segments, printed = _lines(out.getvalue())
    (result,), _ = predict(PredictConfig(str(ckpt), (str(video),), str(tmp_path / "p"), annotate=False,
                                         progress=False, precision="auto"))
    windows = result["windows"]
    assert len(frames) == len(windows) and summary["dropped"] == 0 and printed == summary
    for f, w in zip(frames, windows):
        assert f["label"] == w["top"][0]["label"]
        assert abs(f["confidence"] - w["top"][0]["probability"]) < 2e-3
        assert f["stream_time"] == pytest.approx(w["start"] + 4 * 0.4, abs=1e-3)  # the window's newest frame
    assert segments and segments[0]["start"] == frames[0]["stream_time"]
    csv_lines = (tmp_path / "s.csv").read_text().splitlines()
    assert csv_lines[0] == "start,end,label,confidence,top,unfamiliar"
    assert all(line.split(",")[-2].split(";")[0].split()[0] == line.split(",")[2] for line in csv_lines[1:])  # top-1
    _check_record(tmp_path / "r.mp4", video, frames, window=5)
    # The segments are lrcn predict's decoder (its default settings) over the steps' probabilities: with a
    # lag as long as the stream, exactly the offline decoding.
    classes = sorted({t["label"] for f in frames for t in f["top"]})
    assert all(len(f["top"]) == len(classes) for f in frames)  # every class listed: the table is whole
    probs = np.array([[{t["label"]: t["probability"] for t in f["top"]}[c] for c in classes] for f in frames])
    labels = decode(probs, Decoding(), 2.5)
    expected = [(round(frames[i]["stream_time"], 3), classes[label]) for label, i, _ in runs(labels.tolist())]
    assert [(s["start"], s["label"]) for s in segments] == expected
    folder = tmp_path / "o"
    assert (folder / "segments.csv").read_text() == (tmp_path / "s.csv").read_text()
    saved = json.loads((folder / "stream.json").read_text())
    assert saved["segments"] == segments and saved["summary"] == summary
    assert (folder / f"{video.stem}.srt").read_text().count(" --> ") == len(segments)


def test_a_causal_head_labels_from_the_first_frame(causal_trained, tiny_dataset):
    """A causal head streams a label for every sampled frame, the first ones from the frames so far:
    the same probabilities as its step logits over the first window."""
    import torch

    from lrcn.checkpoint import load_head
    from lrcn.inference import Model
    from lrcn.metrics import softmax

    video = sorted(tiny_dataset.rglob("*.avi"))[0]
    out = io.StringIO()
    summary = run(StreamConfig(str(causal_trained), str(video)), out=out)
    frames, _, _ = _lines(out.getvalue())
    head, ckpt = load_head(causal_trained, torch.device("cpu"))
    embedded = [e for _, e in Model(causal_trained).embed_video(video, "live", 8)]
    assert summary["frames"] == len(frames) == len(embedded) and summary["dropped"] == 0  # none waits for a window
    with torch.no_grad():
        steps = softmax(head.step_logits(torch.from_numpy(np.stack(embedded[:5]).astype(np.float32))[None])[0].numpy())
    for f, p in zip(frames[:5], steps):
        assert f["label"] == ckpt.class_names[int(p.argmax())] and abs(f["confidence"] - float(p.max())) < 2e-3


def _check_record(path, video, frames: list[dict], window: int) -> None:
    """--record: every frame the model saw at its stream time, the labelled ones with a label drawn
    in the top-left corner and nothing else changed."""
    import av

    from lrcn.features import decode_size
    from lrcn.video import iter_frames_at_fps, probe

    info = probe(video)
    seen = [f.rgb for f in iter_frames_at_fps(video, 2.5, decode_size(info.width, info.height, "center"))]
    with av.open(str(path)) as c:
        shown = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    assert len(shown) == len(seen) == len(frames) + window - 1
    assert [t for t, _ in shown][window - 1:] == pytest.approx([f["stream_time"] for f in frames], abs=2e-3)
    for k, ((_, rgb), src) in enumerate(zip(shown, seen)):
        h, w = rgb.shape[:2]
        diff = np.abs(rgb.astype(float) - src[:h, :w].astype(float))
        assert diff[h // 2 :].mean() < 12, k  # the picture is the model's view (x264 is lossy)
        corner = diff[8:14, 8:40].mean()
        assert corner > 30 if k >= window - 1 else corner < 12, (k, corner)  # the label, once there is one


def test_frames_the_cnn_has_no_time_for_are_dropped_newest_first(trained, make_video, monkeypatch):
    """A source in real time and a CNN slower than the sampled fps: frames are dropped (counted),
    labels still come, and no queue grows."""
    import lrcn.backbone

    ckpt, _ = trained
    video = make_video("long.avi", 300, fps=25)  # 12 s: 30 sampled frames at 2.5 fps, one every 0.4 s
    real = lrcn.backbone.FrameEmbedder.forward
    # A CNN 2.5x slower than the source: a frame every 1 s against one every 0.4 s. A loaded machine
    # only makes it slower (more drops); the window of 5 still fills long before the 12 s are over.
    monkeypatch.setattr(lrcn.backbone.FrameEmbedder, "forward", lambda self, x: time.sleep(1.0) or real(self, x))
    out = io.StringIO()
    summary = run(StreamConfig(str(ckpt), str(video), realtime=True, runtime="pytorch"), out=out)
    frames, _, _ = _lines(out.getvalue())
    assert summary["dropped"] >= 8 and frames  # at most 2 of every 5 frames can be embedded
    assert summary["frames"] + summary["dropped"] + 4 <= 30  # a window of 5 fills before the first label
    assert [f["dropped"] for f in frames] == sorted(f["dropped"] for f in frames)


def test_the_slot_holds_one_frame_and_waits_only_when_lossless():
    lossy = LatestSlot(lossless=False)
    for k in range(5):
        lossy.put((k, 0.0))
    assert lossy.get() == (4, 0.0) and lossy.dropped == 4  # the newest wins
    lossless = LatestSlot(lossless=True)
    lossless.put((0, 0.0))
    done = threading.Event()
    threading.Thread(target=lambda: (lossless.put((1, 0.0)), done.set()), daemon=True).start()
    assert not done.wait(0.2)  # the producer waits for the consumer
    assert lossless.get() == (0, 0.0) and done.wait(2) and lossless.get() == (1, 0.0) and lossless.dropped == 0
    lossless.close(RuntimeError("decoder died"))
    with pytest.raises(RuntimeError, match="decoder died"):
        lossless.get()


@pytest.mark.parametrize("labels, min_frames, expected", [
    ("AAAABBBB", 2, [(0, 4, "A"), (4, 8, "B")]),
    ("AAABAAAA", 2, [(0, 8, "A")]),  # one stray frame does not split a segment
    ("AAABBAAA", 2, [(0, 3, "A"), (3, 5, "B"), (5, 8, "A")]),
    ("AAAB", 1, [(0, 3, "A"), (3, 4, "B")]),
    ("", 2, []),
])
def test_online_segments_switch_after_a_lead_of_min_frames(labels, min_frames, expected):
    seg = OnlineSegments(min_frames)
    for t, label in enumerate(labels):
        seg.add(float(t), label, 0.5)
    seg.close(float(len(labels)))
    assert [(s.start, s.end, s.label) for s in seg.finished] == expected


PIPE_WRITER = """
import sys, time, av, numpy as np
c = av.open(sys.stdout.buffer, "w", format="mpegts", buffer_size=1024)  # a camera: frames as they are made
s = c.add_stream("mpeg2video", rate=25)
s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
rng = np.random.default_rng(0)
for i in range(250):
    f = av.VideoFrame.from_ndarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), format="rgb24")
    for p in s.encode(f):
        c.mux(p)
    time.sleep(float(sys.argv[1]))  # 0.04: 25 fps, in real time, as a camera; 0: as fast as cat
for p in s.encode():
    c.mux(p)
c.close()
"""


@pytest.mark.slow
@pytest.mark.parametrize("pace, realtime", [(0.0, False), (0.04, True)])
def test_a_pipe_on_standard_input_is_lossless_unless_realtime(trained, tmp_path, pace, realtime):
    """``cat file.ts | lrcn stream RUN -``: every sampled frame labelled, at any speed of the pipe. With
    ``--realtime`` a pipe is kept up with, dropping what the CNN has no time for (the newest kept)."""
    ckpt, _ = trained
    writer = subprocess.Popen([sys.executable, "-c", PIPE_WRITER, str(pace)], stdout=subprocess.PIPE)
    proc = subprocess.run([sys.executable, "-m", "lrcn", "stream", str(ckpt), "-", "--srt", str(tmp_path / "s.srt")]
                          + (["--realtime"] if realtime else []),
                          stdin=writer.stdout, capture_output=True, text=True, timeout=120)
    writer.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr[-2000:]
    frames, segments, summary = _lines(proc.stdout)
    # 10 s at 2.5 fps = 25 sampled frames; the first 4 fill the window of 5
    if realtime:
        assert len(frames) == summary["frames"] >= 3 and summary["frames"] + 4 + summary["dropped"] == 25
    else:
        assert summary["dropped"] == 0 and len(frames) == summary["frames"] == 21
    assert frames[-1]["stream_time"] == pytest.approx(9.6)  # the last sampled frame is never the one dropped
    assert segments and segments[-1]["end"] <= 10.0 + 1e-6
    assert (tmp_path / "s.srt").read_text().startswith("1\n00:00:")


def test_an_mp4_on_a_pipe_is_one_line_naming_what_a_pipe_can_carry(trained, make_video, tmp_path):
    ckpt, _ = trained
    video = make_video("v.mp4", 50, fps=25, codec="libx264")
    cat = subprocess.Popen(["cat", str(video)], stdout=subprocess.PIPE)  # a pipe: it cannot seek back to the index
    proc = subprocess.run([sys.executable, "-m", "lrcn", "stream", str(ckpt), "-"], stdin=cat.stdout,
                          capture_output=True, text=True, timeout=120)
    cat.wait(timeout=30)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "standard input:" in proc.stderr and "MPEG-TS" in proc.stderr, proc.stderr


def test_a_stream_with_no_labelled_frame_warns_and_fails(trained, make_video):
    """Fewer sampled frames than a window: a warning and exit 1, and no latency made up for zero frames."""
    ckpt, _ = trained
    video = make_video("short.avi", 25, fps=25)  # 1 s: 3 sampled frames, a window needs 5
    proc = subprocess.run([sys.executable, "-m", "lrcn", "stream", str(ckpt), str(video)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and "no frame labelled" in proc.stderr and "Traceback" not in proc.stderr
    _, segments, summary = _lines(proc.stdout)
    assert summary["frames"] == 0 and summary["latency_median"] is None and not segments


@pytest.mark.slow
def test_sigterm_stops_and_writes_the_outputs(trained, make_video, tmp_path):
    ckpt, _ = trained
    video = make_video("long.avi", 500, fps=25)  # 20 s, played in real time
    proc = subprocess.Popen([sys.executable, "-m", "lrcn", "stream", str(ckpt), str(video), "--realtime",
                             "--csv", str(tmp_path / "s.csv"), "--srt", str(tmp_path / "s.srt"),
                             "--record", str(tmp_path / "r.mp4")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # a label: the stream is running
    assert json.loads(first)["label"]
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    _, segments, summary = _lines(first + rest)
    assert segments and summary["frames"] < 40  # stopped early, not at the end of the file
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == "start,end,label,confidence,top,unfamiliar" and len(rows) == len(segments) + 1
    assert (tmp_path / "s.srt").is_file()
    import av

    with av.open(str(tmp_path / "r.mp4")) as c:  # the recording is finished, not cut off
        assert sum(1 for _ in c.decode(video=0)) == summary["frames"] + 4
    assert not list(tmp_path.glob("*.tmp-*"))  # no temporary left


TCP_WRITER = """
import sys, time, av, numpy as np
c = av.open(f"tcp://127.0.0.1:{sys.argv[1]}?listen=1", "w", format="mpegts")  # waits for lrcn to connect
s = c.add_stream("mpeg2video", rate=25)
s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
rng = np.random.default_rng(int(sys.argv[2]))
for i in range(int(sys.argv[2])):
    f = av.VideoFrame.from_ndarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), format="rgb24")
    for p in s.encode(f):
        c.mux(p)
    time.sleep(0.04)
for p in s.encode():
    c.mux(p)
c.close()
"""


@pytest.mark.slow
def test_a_network_source_that_stops_and_comes_back_is_reconnected(trained):
    """A live MPEG-TS source on loopback TCP sends 3 s, goes away, and comes back for 3 s more:
    lrcn stream reconnects, and stream time goes on from where the first part ended."""
    import socket

    ckpt, _ = trained
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    first = subprocess.Popen([sys.executable, "-c", TCP_WRITER, str(port), "75"])
    time.sleep(1.0)  # listening
    proc = subprocess.Popen([sys.executable, "-m", "lrcn", "stream", str(ckpt), f"tcp://127.0.0.1:{port}",
                             "--reconnect", "6", "--timeout", "10"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # retries for 1 + 2 + 4 + 8 + 16 + 30 s: time for a loaded machine
    first.wait(timeout=120)
    second = subprocess.Popen([sys.executable, "-c", TCP_WRITER, str(port), "75"])
    second.wait(timeout=120)  # lrcn connected again and took all of it
    proc.send_signal(signal.SIGTERM)  # rather than waiting out the retries that would find nobody
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    frames, _, summary = _lines(out)
    assert summary["reconnects"] >= 1 and "reconnecting" in err
    times = [f["stream_time"] for f in frames]
    assert times == sorted(times) and times[-1] > 3.0  # the second part continues the first's clock


def test_a_source_that_never_answers_is_one_clear_error(trained, capsys):
    import socket

    from lrcn.cli import main

    with socket.socket() as s:  # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["stream", str(trained[0]), f"tcp://127.0.0.1:{port}", "--timeout", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"lrcn: error: tcp://127.0.0.1:{port}: cannot open the stream") and "\n" not in err


def test_a_recording_that_cannot_be_written_is_one_error_naming_it(trained, tiny_dataset, tmp_path):
    from lrcn.errors import LrcnError

    (tmp_path / "afile").write_text("not a folder")
    target = tmp_path / "afile" / "r.mp4"
    video = sorted(tiny_dataset.rglob("*.avi"))[0]
    with pytest.raises(LrcnError, match=r"cannot write \(a part of the path is a file, not a folder\)") as err:
        run(StreamConfig(str(trained[0]), str(video), record=str(target)), out=io.StringIO())
    assert str(target) in str(err.value) and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_online_segments_switch_only_after_a_lead_in_a_row():
    """A new label must lead for ``min_frames`` steps *in a row*: A A B A B A B A never becomes B."""
    from lrcn.stream import OnlineSegments

    seg = OnlineSegments(2, ("A", "B"), top_k=2)
    done = [seg.add(0.4 * i, label, 0.6, np.array([0.6, 0.4]) if label == "A" else np.array([0.4, 0.6]))
            for i, label in enumerate("AABABABA")]
    assert not any(done)
    last = seg.close(3.2)
    assert (last.label, last.start, last.end) == ("A", 0.0, 3.2)
    assert [name for name, _ in last.top] == ["A", "B"] and abs(last.top[0][1] - 0.525) < 1e-9  # 5 A-steps, 3 B
    seg = OnlineSegments(2, ("A", "B"))
    finished = [s for i, label in enumerate("AABBB") if (s := seg.add(0.4 * i, label, 0.6))]
    assert [(s.label, s.start, s.end) for s in finished] == [("A", 0.0, 0.8)]  # B led twice in a row from 0.8 s


def test_online_segments_carry_the_mean_unfamiliarity_of_their_own_steps():
    """A segment is unfamiliar when the mean score of *its* steps passes the threshold; the challenger's
    steps that won count for the next segment, not this one."""
    seg = OnlineSegments(2, threshold=5.0)
    for t, (label, score) in enumerate([("A", 1.0), ("A", 1.0), ("A", 1.0), ("B", 9.0), ("B", 9.0), ("B", 9.0)]):
        seg.add(float(t), label, 0.5, None, score)
    seg.close(6.0)
    (a, b) = seg.finished
    assert (a.label, a.unfamiliar, a.unfamiliarity) == ("A", False, 1.0)
    assert (b.label, b.unfamiliar, b.unfamiliarity) == ("B", True, 9.0)
    assert OnlineSegments(2).add(0.0, "A", 0.5) is None  # no threshold: nothing measured
    plain = OnlineSegments(1)
    plain.add(0.0, "A", 0.5)
    assert plain.close(1.0).unfamiliar is None
