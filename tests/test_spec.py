"""The framework-free network description: shapes, parameters, FLOPs, padding, limits."""

import pytest

from frameworks.spec import (
    MIN_IMAGE_SIZE,
    ModelSpec,
    SpecError,
    activation_listing,
    forward_backward_flops,
    forward_flops,
    layer_table,
    pool5_size,
    same_pads,
)

SEED_PRINTOUT = """\
conv1   [32, 56, 56, 64]
pool1   [32, 27, 27, 64]
conv2   [32, 27, 27, 192]
pool2   [32, 13, 13, 192]
conv3   [32, 13, 13, 384]
conv4   [32, 13, 13, 256]
conv5   [32, 13, 13, 256]
pool5   [32, 6, 6, 256]"""


def test_shapes_at_224_match_the_seed_printout():
    assert activation_listing(ModelSpec()) == SEED_PRINTOUT


def test_parameter_counts():
    rows = {r.name: r for r in layer_table(ModelSpec(heads=True))}
    assert rows["conv1"].params == 11 * 11 * 3 * 64 + 64 == 23_296
    assert rows["conv2"].params == 5 * 5 * 64 * 192 + 192 == 307_392
    assert rows["conv3"].params == 663_936
    assert rows["conv4"].params == 884_992
    assert rows["conv5"].params == 590_080
    assert rows["fc6"].params == 6 * 6 * 256 * 4096 + 4096
    assert sum(r.params for r in rows.values()) == 61_100_840


def test_forward_flops_worked_by_hand():
    # multiply-adds per image: conv1 56*56*64*(11*11*3), conv2 27*27*192*(5*5*64), conv3 13*13*384*(3*3*192),
    # conv4 13*13*256*(3*3*384), conv5 13*13*256*(3*3*256)
    macs = [72_855_552, 223_948_800, 112_140_288, 149_520_384, 99_680_256]
    spec = ModelSpec(batch_size=1)
    assert [r.flops for r in layer_table(spec) if r.kind == "conv"] == [2 * m for m in macs]
    assert forward_flops(spec) == 2 * sum(macs) == 1_316_290_560  # DESIGN: about 1.32 GFLOP
    assert forward_flops(ModelSpec(batch_size=32)) == 32 * forward_flops(spec)
    heads = forward_flops(ModelSpec(batch_size=1, heads=True)) - forward_flops(spec)
    assert heads == 2 * (9216 * 4096 + 4096 * 4096 + 4096 * 1000)  # about 0.12 GFLOP


def test_forward_backward_flops_formula():
    spec = ModelSpec(batch_size=1)
    assert forward_backward_flops(spec) == 3 * forward_flops(spec) - 2 * 72_855_552


def test_lrn_is_listed_only_when_on():
    assert "lrn1" in {r.name for r in layer_table(ModelSpec(lrn=True))}
    assert "lrn1" not in {r.name for r in layer_table(ModelSpec(lrn=False))}


def test_same_padding_odd_total_goes_after():
    assert same_pads(224, 11, 4) == (3, 4)  # total 7: (56-1)*4 + 11 - 224
    assert same_pads(27, 5, 1) == (2, 2)
    assert same_pads(66, 11, 4) == (4, 5)  # total 9: the small size the parity tests use


def test_minimum_image_size():
    assert MIN_IMAGE_SIZE == 57
    assert pool5_size(57) == 1 and pool5_size(56) == 0
    ModelSpec(image_size=57)
    with pytest.raises(SpecError, match="image size must be an integer >= 57"):
        ModelSpec(image_size=56)


def test_batch_size_below_one():
    with pytest.raises(SpecError, match="batch size"):
        ModelSpec(batch_size=0)
