"""A case: one framework, mode and model setting, timed in one worker process."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from frameworks.spec import ModelSpec

MODES = ("forward", "forward_backward", "train_step")
DEFAULT_MODES = ("forward", "forward_backward")


@dataclass(frozen=True)
class Case:
    """Everything a worker needs to time one case; ``key`` matches the CSV's case columns."""

    framework: str
    mode: str
    lrn: bool = True
    heads: bool = False
    batch_size: int = 32
    image_size: int = 224
    variant: str = "default"
    precision: str = "fp32"
    layout: str = "native"  # the framework's own (NCHW for torch, NHWC otherwise), or one forced
    tf32: bool | None = None
    device: str = "auto"
    threads: int | None = None
    burn_in: int = 10
    steps: int = 100
    seed: int = 0

    def __post_init__(self):
        if self.mode == "train_step" and not self.heads:  # training needs the classifier
            object.__setattr__(self, "heads", True)

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(self.batch_size, self.image_size, self.lrn, self.heads)

    def key(self) -> tuple:
        return (self.framework, self.variant, self.mode, self.lrn, self.heads,
                self.batch_size, self.image_size, self.precision, self.layout)

    def label(self) -> str:
        lrn = "lrn" if self.lrn else "no-lrn"
        heads = " heads" if self.heads and self.mode != "train_step" else ""
        return (f"{self.framework} {self.variant} {self.mode} {lrn}{heads} b{self.batch_size} "
                f"{self.image_size}px {self.precision} {self.layout}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Case:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
