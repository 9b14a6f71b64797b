"""Canonical weights: deterministic, truncated, and checked when loaded from a file."""

import numpy as np
import pytest

from frameworks.spec import ModelSpec
from frameworks.weights import (
    WeightsError,
    canonical_weights,
    load_images,
    load_weights,
    random_images,
    save_weights,
    weights_hash,
)

SPEC = ModelSpec(batch_size=2, image_size=66, heads=True)


def test_weights_are_deterministic_and_seeded():
    a, b = canonical_weights(SPEC), canonical_weights(SPEC)
    assert weights_hash(a) == weights_hash(b)
    assert weights_hash(canonical_weights(SPEC, seed=1)) != weights_hash(a)


def test_conv_weights_do_not_depend_on_heads():
    no_heads, heads = canonical_weights(ModelSpec(batch_size=2, image_size=66)), canonical_weights(SPEC)
    for name, value in no_heads.items():
        np.testing.assert_array_equal(value, heads[name])


def test_truncated_normal_and_zero_biases():
    w = canonical_weights(ModelSpec())
    kernel = w["conv2/weights"]
    assert kernel.dtype == np.float32 and kernel.shape == (5, 5, 64, 192)
    assert np.abs(kernel).max() <= 0.2
    assert 0.08 < kernel.std() < 0.095  # a normal(0.1) truncated at 2 sd has sd 0.088
    assert not w["conv2/biases"].any()


def test_round_trip(tmp_path):
    path = tmp_path / "w.npz"
    save_weights(canonical_weights(SPEC), str(path))
    assert weights_hash(load_weights(str(path), SPEC)) == weights_hash(canonical_weights(SPEC))


@pytest.mark.parametrize("change, message", [
    (lambda w: w.pop("conv3/biases"), r"lacks conv3/biases \(expected shape \[384\]\)"),
    (lambda w: w.update(extra=np.zeros(3, np.float32)), "unexpected key extra"),
    (lambda w: w.update({"conv1/weights": np.zeros((3, 3, 3, 64), np.float32)}),
     r"conv1/weights has shape \[3, 3, 3, 64\], expected \[11, 11, 3, 64\]"),
])
def test_bad_weights_files(tmp_path, change, message):
    w = canonical_weights(SPEC)
    change(w)
    path = tmp_path / "w.npz"
    np.savez(path, **w)
    with pytest.raises(WeightsError, match=message):
        load_weights(str(path), SPEC)


def test_unreadable_weights_file(tmp_path):
    path = tmp_path / "w.npz"
    path.write_text("not a zip")
    with pytest.raises(WeightsError, match="cannot read weights file"):
        load_weights(str(path), SPEC)


@pytest.mark.parametrize("images, message", [
    (np.zeros((2, 66, 66), np.float32), "rank 3, expected 4"),
    (np.zeros((2, 66, 66, 3), np.float64), "dtype float64, expected float32"),
    (np.zeros((2, 64, 64, 3), np.float32), r"shape \[2, 64, 64, 3\], expected \[2, 66, 66, 3\]"),
])
def test_bad_images_files(tmp_path, images, message):
    path = tmp_path / "x.npy"
    np.save(path, images)
    with pytest.raises(WeightsError, match=message):
        load_images(str(path), SPEC)


def test_random_images_fit_the_spec():
    x = random_images(SPEC)
    assert x.shape == (2, 66, 66, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x, random_images(SPEC))
