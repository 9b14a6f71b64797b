"""A case: one framework, mode and model setting, timed in one worker process."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from frameworks.spec import ModelSpec

MODES = ("forward", "forward_backward")


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
    device: str = "auto"
    threads: int | None = None
    burn_in: int = 10
    steps: int = 100
    seed: int = 0

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(self.batch_size, self.image_size, self.lrn, self.heads)

    def key(self) -> tuple:
        return (self.framework, self.variant, self.mode, self.lrn, self.heads,
                self.batch_size, self.image_size, self.precision)

    def label(self) -> str:
        lrn = "lrn" if self.lrn else "no-lrn"
        extra = "".join(f" {v}" for v in (self.variant, self.precision) if v not in ("default", "fp32"))
        heads = " heads" if self.heads else ""
        return f"{self.framework} {self.mode} {lrn}{heads} b{self.batch_size} {self.image_size}px{extra}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Case:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
