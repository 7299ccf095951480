"""lrcn: action recognition in video with a Long-term Recurrent Convolutional Network.

A frozen ImageNet CNN embeds each sampled frame once (cached on disk), a
bidirectional LSTM reads the sequence of embeddings, a linear head names the
action. The package is laid out as the pipeline: ``video`` -> ``clips`` ->
``datasets`` -> ``preprocess`` -> ``backbone`` -> ``features`` -> ``model`` ->
``train`` -> ``evaluate`` -> ``predict`` / ``continuous`` -> ``plots``.
"""

__version__ = "0.1.0"
