"""lrcn: action recognition in video with a Long-term Recurrent Convolutional Network.

A frozen ImageNet CNN embeds each sampled frame once (cached on disk), a
bidirectional LSTM reads the sequence of embeddings, a linear head names the
action. The package is laid out as the pipeline: ``video`` -> ``clips`` ->
``datasets`` -> ``preprocess`` -> ``backbone`` -> ``features`` -> ``model`` ->
``train`` -> ``evaluate`` -> ``predict`` / ``continuous`` -> ``plots``.

In Python: ``model = lrcn.load("runs/latest"); model.predict("video.mp4")`` (see :mod:`lrcn.inference`); ``lrcn.load("kinetics400")`` names Kinetics-400 actions with no training.
"""

__version__ = "0.1.0"
__all__ = ["load", "Model", "Prediction", "Decoding", "__version__"]


def __getattr__(name: str):
    # Imported on first use, so `import lrcn` (and `lrcn --help`) does not import torch.
    if name in ("load", "Model", "Prediction"):
        from . import inference

        return getattr(inference, name)
    if name == "Decoding":
        from .config import Decoding

        return Decoding
    raise AttributeError(f"module 'lrcn' has no attribute {name!r}")
