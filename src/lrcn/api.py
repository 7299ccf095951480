"""The Python API: ``lrcn.load``, :class:`Model` and :class:`Prediction` (defined in :mod:`lrcn.inference`).

    import lrcn
    model = lrcn.load("runs/latest")             # a run folder, a .pth.tar, or "kinetics400"
    result = model.predict("video.mp4")          # segments (with top-k) and per-step labels, in memory
    label, probs = model.classify(model.read_frames("video.mp4"))
"""

from .inference import Model, Prediction, load  # noqa: F401
