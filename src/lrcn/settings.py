"""Choices and defaults the command line shows, in a module that imports nothing heavy.

``lrcn --help`` builds every subcommand's flags from here without importing torch or numpy; the
modules that use these names (``backbone``, ``features``, ``decode``, ``continuous``) import them
from here, so each is defined once.
"""

from __future__ import annotations

from dataclasses import dataclass

ARCHITECTURES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2")
#: Embedding size of each architecture (checked against torchvision in the tests).
FEATURE_DIMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048,
                "mobilenet_v2": 1280}
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CROP_MODES = ("center", "full")
SMOOTHINGS = ("none", "median", "viterbi")


@dataclass(frozen=True)
class Decoding:
    """How window probabilities become frame labels (the defaults were measured, see the README)."""

    smoothing: str = "viterbi"  # none | median | viterbi
    switch_penalty: float = 8.0  # viterbi: log-probability cost of one change of label
    min_seconds: float = 1.2  # viterbi: shortest segment; median: the filter's length

    def __post_init__(self) -> None:
        from .errors import ConfigError

        if self.smoothing not in SMOOTHINGS:
            raise ConfigError(f"--smoothing must be one of {', '.join(SMOOTHINGS)}, got {self.smoothing!r}")
        if not self.switch_penalty >= 0:
            raise ConfigError(f"--switch-penalty must be >= 0, got {self.switch_penalty}")
        if not self.min_seconds >= 0:
            raise ConfigError(f"--min-segment must be >= 0 seconds, got {self.min_seconds}")

    def frames(self, fps: float) -> int:
        """``min_seconds`` in sampled frames (at least 1)."""
        return max(1, int(round(self.min_seconds * fps)))


#: test-continuous: its actions last exactly 2 s, so a switch costs less than in ``predict``.
CONTINUOUS_DECODING = Decoding(switch_penalty=2.0)
