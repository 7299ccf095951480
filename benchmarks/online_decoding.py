"""lrcn stream's online decoding against lrcn predict's offline one, on the same probabilities.

Probability tracks of actions 2-10 s long (5-25 steps at 2.5 fps, 6 classes) where a quarter of
the steps names a random class (the flicker of a window classifier at boundaries and on hard
frames). Printed: frame accuracy of the raw argmax, the offline Viterbi (predict: the whole video
known), the online fixed-lag Viterbi (stream: each step final 2 x --min-segment later) and the
hysteresis lrcn stream used before (a new label leads --min-segment before a switch), all with
predict's default settings, over 200 seeded tracks of 300 steps. Pure NumPy; seconds to run.

    python benchmarks/online_decoding.py
"""

import numpy as np

from lrcn.decode import Decoding, OnlineDecoder, decode
from lrcn.stream import OnlineSegments


def track(seed: int, n: int = 300, classes: int = 6, flicker: float = 0.25):
    rng = np.random.default_rng(seed)
    truth = np.concatenate([np.full(rng.integers(5, 26), rng.integers(classes)) for _ in range(n // 5)])[:n]
    shown = np.where(rng.random(n) < flicker, rng.integers(classes, size=n), truth)
    probs = rng.dirichlet(np.full(classes, 0.5), size=n) * 0.4
    probs[np.arange(n), shown] += 0.6
    return truth, probs


def online(probs: np.ndarray, decoding: Decoding, fps: float) -> np.ndarray:
    dec, labels = OnlineDecoder(decoding, fps), []
    for p in probs:
        labels += dec.push(p)
    return np.array(labels + dec.flush())


def hysteresis(probs: np.ndarray, lead: int) -> np.ndarray:
    seg = OnlineSegments(lead)
    for t, p in enumerate(probs):
        seg.add(float(t), int(p.argmax()), float(p.max()))
    seg.close(float(len(probs)))
    out = np.zeros(len(probs), int)
    for s in seg.finished:
        out[int(s.start):int(s.end)] = s.label
    return out


def main() -> None:
    fps, decoding = 2.5, Decoding()
    scores = {"raw argmax": [], "offline viterbi (predict)": [], "online viterbi (stream)": [],
              "hysteresis (stream before)": []}
    for seed in range(200):
        truth, probs = track(seed)
        for name, labels in zip(scores, (probs.argmax(1), decode(probs, decoding, fps), online(probs, decoding, fps),
                                         hysteresis(probs, decoding.frames(fps)))):
            scores[name].append(np.mean(labels == truth))
    lag = OnlineDecoder(decoding, fps).lag / fps
    print(f"frame accuracy over 200 tracks (min-segment {decoding.min_seconds} s, switch penalty "
          f"{decoding.switch_penalty}, online lag {lag:.1f} s):")
    for name, values in scores.items():
        print(f"  {name:28s} {100 * np.mean(values):5.1f} %")


if __name__ == "__main__":
    main()
