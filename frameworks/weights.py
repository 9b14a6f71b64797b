"""Canonical weights: generated once in NumPy, saved to and checked from ``.npz``.

Every backend loads these same numbers. Names are the seed's variable names
(``conv1/weights`` HWIO, ``conv1/biases``, ..., ``fc8/biases``); weights are drawn from a
truncated normal (stddev 0.1, redrawn beyond two stddevs, like ``tf.truncated_normal``)
and biases are 0, as in the seed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile

import numpy as np

from .spec import FCS, ModelSpec

DEFAULT_SEED = 0
STDDEV = 0.1


class WeightsError(ValueError):
    """A weights or images file that does not fit the spec."""


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], stddev: float) -> np.ndarray:
    x = rng.standard_normal(shape)
    bad = np.abs(x) > 2.0
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2.0
    return (x * stddev).astype(np.float32)


def drawn_weights(spec: ModelSpec, seed: int = DEFAULT_SEED, stddev: float = STDDEV,
                  bias_stddev: float = 0.0) -> dict[str, np.ndarray]:
    """The spec's parameters in float32: weights from a truncated normal of ``stddev``, biases from a normal of
    ``bias_stddev`` (0: zeros). Each tensor has its own stream, keyed by name, so conv weights do not change
    when the heads are switched on."""
    weights = {}
    for name, shape in spec.parameter_shapes().items():
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
        rng = np.random.default_rng([seed, key])
        if name.endswith("/biases"):
            biases = rng.standard_normal(shape) * bias_stddev if bias_stddev else np.zeros(shape)
            weights[name] = biases.astype(np.float32)
        else:
            weights[name] = _truncated_normal(rng, shape, stddev)
    return weights


def canonical_weights(spec: ModelSpec, seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """The seed's initialisation: truncated normal weights of stddev 0.1, biases 0."""
    return drawn_weights(spec, seed)


def random_images(spec: ModelSpec, seed: int = DEFAULT_SEED, stddev: float = 0.1) -> np.ndarray:
    """A fixed synthetic NHWC float32 batch (normal, stddev 0.1 like the seed's unless given)."""
    rng = np.random.default_rng([seed, 0x1A6E5])
    return (rng.standard_normal(spec.input_shape) * stddev).astype(np.float32)


def random_labels(spec: ModelSpec, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Fixed random class labels in [0, 1000) for ``train_step``, int32."""
    return np.random.default_rng([seed, 0x1AB]).integers(0, FCS[-1][1], spec.batch_size).astype(np.int32)


def weights_hash(weights: dict[str, np.ndarray]) -> str:
    """SHA-256 over names, shapes and bytes, in name order (first 16 hex digits)."""
    h = hashlib.sha256()
    for name in sorted(weights):
        a = np.ascontiguousarray(weights[name], dtype=np.float32)
        h.update(f"{name}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def save_weights(weights: dict[str, np.ndarray], path: str) -> None:
    """Write an ``.npz`` atomically (a temporary file, then a rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **weights)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_weights(path: str, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Read an ``.npz`` and check it has exactly the spec's parameters and shapes."""
    try:
        with np.load(path, allow_pickle=False) as data:
            loaded = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise WeightsError(f"cannot read weights file {path}: {e}") from None
    expected = spec.parameter_shapes()
    missing = [k for k in expected if k not in loaded]
    if missing:
        raise WeightsError(
            f"weights file {path} lacks {missing[0]} (expected shape {list(expected[missing[0]])})"
        )
    extra = sorted(set(loaded) - set(expected))
    if extra:
        raise WeightsError(f"weights file {path} has an unexpected key {extra[0]} for this model")
    for name, shape in expected.items():
        if loaded[name].shape != shape:
            raise WeightsError(
                f"weights file {path}: {name} has shape {list(loaded[name].shape)}, "
                f"expected {list(shape)}"
            )
        if not np.issubdtype(loaded[name].dtype, np.floating):
            raise WeightsError(f"weights file {path}: {name} has dtype {loaded[name].dtype}, expected float")
    return {k: loaded[k].astype(np.float32) for k in expected}


def load_labels(path: str, spec: ModelSpec) -> np.ndarray:
    """Read an ``.npy`` of integer class ids, one per image of the batch, in [0, 1000)."""
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise WeightsError(f"cannot read labels file {path}: {e}") from None
    if not np.issubdtype(labels.dtype, np.integer):
        raise WeightsError(f"labels file {path} has dtype {labels.dtype}, expected integers (class ids)")
    if labels.shape != (spec.batch_size,):
        raise WeightsError(f"labels file {path} has shape {list(labels.shape)}, expected [{spec.batch_size}] "
                           "(one class id per image)")
    classes = FCS[-1][1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        bad = labels[(labels < 0) | (labels >= classes)][0]
        raise WeightsError(f"labels file {path} has class id {bad}, outside [0, {classes})")
    return labels.astype(np.int32)


def load_images(path: str, spec: ModelSpec) -> np.ndarray:
    """Read an ``.npy`` NHWC float32 batch and check it fits the spec."""
    try:
        images = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise WeightsError(f"cannot read images file {path}: {e}") from None
    if images.ndim != 4:
        raise WeightsError(f"images file {path} has rank {images.ndim}, expected 4 (NHWC)")
    if images.dtype != np.float32:
        raise WeightsError(f"images file {path} has dtype {images.dtype}, expected float32")
    if images.shape != spec.input_shape:
        raise WeightsError(
            f"images file {path} has shape {list(images.shape)}, expected {list(spec.input_shape)} "
            "(batch, image size, image size, 3)"
        )
    return images
