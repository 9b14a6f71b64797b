"""The seed AlexNet as data: the model spec, layer geometry and the layer table.

Nothing here imports a deep-learning framework. Shapes follow TensorFlow's rules:
SAME gives ``ceil(in / stride)`` and puts an odd extra pad at the bottom/right; VALID
max-pooling gives ``(in - k) // stride + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

# name, kernel size, stride, output channels (the seed's convolutions)
CONVS = (
    ("conv1", 11, 4, 64),
    ("conv2", 5, 1, 192),
    ("conv3", 3, 1, 384),
    ("conv4", 3, 1, 256),
    ("conv5", 3, 1, 256),
)
FCS = (("fc6", 4096), ("fc7", 4096), ("fc8", 1000))
IN_CHANNELS = 3
POOL_K, POOL_S = 3, 2
# tf.nn.lrn(depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75), as in the seed
LRN_RADIUS, LRN_BIAS, LRN_ALPHA, LRN_BETA = 4, 1.0, 0.001 / 9.0, 0.75
# layers followed by LRN (when on) and a 3x3/2 max-pool
LRN_AFTER = ("conv1", "conv2")
POOL_AFTER = {"conv1": "pool1", "conv2": "pool2", "conv5": "pool5"}


class SpecError(ValueError):
    """A model spec that cannot be built."""


def same_out(size: int, stride: int) -> int:
    """TF SAME output size."""
    return -(-size // stride)


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF SAME padding (before, after); the odd pixel goes after."""
    total = max((same_out(size, stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pool_out(size: int) -> int:
    """VALID 3x3 stride-2 max-pool output size (may be <= 0 for tiny inputs)."""
    return (size - POOL_K) // POOL_S + 1


def pool5_size(image_size: int) -> int:
    """Spatial size of pool5 for a square input."""
    s = pool_out(same_out(image_size, CONVS[0][2]))  # conv1 -> pool1
    s = pool_out(s)  # conv2 (stride 1) -> pool2
    return pool_out(s)  # conv3..conv5 (stride 1) -> pool5


def min_image_size() -> int:
    """Smallest square input that leaves pool5 at least 1x1."""
    size = 1
    while pool5_size(size) < 1:
        size += 1
    return size


MIN_IMAGE_SIZE = min_image_size()


@dataclass(frozen=True)
class ModelSpec:
    """What to build: the seed network at a batch and image size, LRN and heads optional."""

    batch_size: int = 32
    image_size: int = 224
    lrn: bool = True
    heads: bool = False

    def __post_init__(self):
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise SpecError(f"batch size must be an integer >= 1, got {self.batch_size!r}")
        if not isinstance(self.image_size, int) or self.image_size < MIN_IMAGE_SIZE:
            raise SpecError(
                f"image size must be an integer >= {MIN_IMAGE_SIZE} (the smallest that leaves "
                f"pool5 at least 1x1), got {self.image_size!r}"
            )

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """NHWC shape of the input batch."""
        return (self.batch_size, self.image_size, self.image_size, IN_CHANNELS)

    @property
    def pool5_features(self) -> int:
        """Length of the flattened pool5 (the fc6 input)."""
        return pool5_size(self.image_size) ** 2 * CONVS[-1][3]

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Canonical parameter names and shapes, in order (convs HWIO, FCs (in, out))."""
        shapes: dict[str, tuple[int, ...]] = {}
        cin = IN_CHANNELS
        for name, k, _, cout in CONVS:
            shapes[f"{name}/weights"] = (k, k, cin, cout)
            shapes[f"{name}/biases"] = (cout,)
            cin = cout
        if self.heads:
            fin = self.pool5_features
            for name, fout in FCS:
                shapes[f"{name}/weights"] = (fin, fout)
                shapes[f"{name}/biases"] = (fout,)
                fin = fout
        return shapes

    def output_shape(self) -> tuple[int, ...]:
        """Shape of forward's result: pool5 (NHWC), or the logits with heads."""
        if self.heads:
            return (self.batch_size, FCS[-1][1])
        p = pool5_size(self.image_size)
        return (self.batch_size, p, p, CONVS[-1][3])


@dataclass(frozen=True)
class Layer:
    """One row of the layer table; FLOPs are per batch, a multiply-add counted as 2."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    flops: int


def layer_table(spec: ModelSpec) -> list[Layer]:
    """Per-layer output shape, parameter count and forward FLOPs for ``spec``.

    Only the convolutions and fully connected layers are counted (2 FLOPs per
    multiply-add); bias, ReLU, LRN and pooling are element-wise and counted as 0.
    """
    b, size, cin = spec.batch_size, spec.image_size, IN_CHANNELS
    rows: list[Layer] = []
    for name, k, stride, cout in CONVS:
        size = same_out(size, stride)
        rows.append(
            Layer(name, "conv", (b, size, size, cout), k * k * cin * cout + cout,
                  2 * b * size * size * cout * k * k * cin)
        )
        if spec.lrn and name in LRN_AFTER:
            rows.append(Layer(f"lrn{name[-1]}", "lrn", (b, size, size, cout), 0, 0))
        if name in POOL_AFTER:
            size = pool_out(size)
            rows.append(Layer(POOL_AFTER[name], "pool", (b, size, size, cout), 0, 0))
        cin = cout
    if spec.heads:
        fin = spec.pool5_features
        for name, fout in FCS:
            rows.append(Layer(name, "fc", (b, fout), fin * fout + fout, 2 * b * fin * fout))
            fin = fout
    return rows


def forward_flops(spec: ModelSpec) -> int:
    """Forward FLOPs per batch."""
    return sum(layer.flops for layer in layer_table(spec))


def forward_backward_flops(spec: ModelSpec) -> int:
    """Forward + backward FLOPs per batch.

    Backward costs each conv/FC layer twice its forward (one product for the input
    gradient, one for the weight gradient), except conv1, whose input gradient is
    not needed: ``fwd + 2 * fwd - conv1``.
    """
    fwd = forward_flops(spec)
    conv1 = layer_table(spec)[0].flops
    return 3 * fwd - conv1


def mode_flops(spec: ModelSpec, mode: str) -> int:
    """FLOPs per batch of a timed mode (a train step counts its forward and backward; the
    softmax and the SGD update are element-wise)."""
    return forward_flops(spec) if mode == "forward" else forward_backward_flops(spec)


def format_layer_table(spec: ModelSpec) -> str:
    """The layer table as aligned text, with totals."""
    rows = layer_table(spec)
    lines = [f"{'layer':<7}{'output (NHWC)':<24}{'params':>12}{'GFLOP':>10}"]
    for r in rows:
        lines.append(f"{r.name:<7}{str(list(r.output_shape)):<24}{r.params:>12,}{r.flops / 1e9:>10.3f}")
    total_params = sum(r.params for r in rows)
    lines.append(f"{'total':<31}{total_params:>12,}{forward_flops(spec) / 1e9:>10.3f}")
    lines.append(
        f"forward_backward: {forward_backward_flops(spec) / 1e9:.3f} GFLOP per batch "
        "(3 x forward - conv1: no input gradient for conv1)"
    )
    return "\n".join(lines)


def activation_listing(spec: ModelSpec) -> str:
    """The seed's ``print_activations`` listing: layer name and shape, one per line."""
    names = [r for r in layer_table(spec) if r.kind in ("conv", "pool", "fc")]
    return "\n".join(f"{r.name}   {list(r.output_shape)}" for r in names)

