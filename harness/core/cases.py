"""A case: one framework, mode and model setting, timed in one worker process."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from frameworks.spec import ModelSpec

MODES = ("forward", "forward_backward", "train_step")
DEFAULT_MODES = ("forward", "forward_backward")


def _key(position: int, *default):
    """A field that identifies the case: a column of every summary, steps and layers row, at ``position``."""
    return field(metadata={"key": position}, **({"default": default[0]} if default else {}))


@dataclass(frozen=True)
class Case:
    """Everything a worker needs to time one case; the fields marked as key are ``CASE_KEY``."""

    framework: str = _key(0)
    mode: str = _key(2)
    lrn: bool = _key(3, True)
    heads: bool = _key(4, False)
    batch_size: int = _key(5, 32)
    image_size: int = _key(6, 224)
    variant: str = _key(1, "default")
    precision: str = _key(7, "fp32")
    layout: str = _key(8, "native")  # the framework's own (NCHW for torch, NHWC otherwise), or one forced
    tf32: bool | None = None
    device: str = "auto"
    threads: int | None = None
    burn_in: int = 10
    steps: int = 100
    seed: int = 0
    workers: int = _key(9, 1)  # ranks, each with batch_size images (weak scaling), over ``nodes`` machines
    nodes: int = _key(10, 1)
    parallel: str = _key(11, "none")  # one process ("none"), or frameworks.distributed.PARALLEL's dp / hybrid

    def __post_init__(self):
        if self.mode == "train_step" and not self.heads:  # training needs the classifier
            object.__setattr__(self, "heads", True)

    @property
    def spec(self) -> ModelSpec:
        """The model of one process (of one rank: ``batch_size`` is per rank)."""
        return ModelSpec(self.batch_size, self.image_size, self.lrn, self.heads)

    @property
    def distributed(self) -> bool:
        """Whether the case runs as ranks of a framework's distributed engine (one rank counts too)."""
        return self.parallel != "none"

    @property
    def global_spec(self) -> ModelSpec:
        """The model of the whole group: every rank's images in one batch."""
        return ModelSpec(self.batch_size * self.workers, self.image_size, self.lrn, self.heads)

    def key(self) -> tuple:
        return tuple(getattr(self, name) for name in CASE_KEY)

    def columns(self) -> dict:
        """The key columns of the case's rows."""
        return {name: getattr(self, name) for name in CASE_KEY}

    def label(self) -> str:
        lrn = "lrn" if self.lrn else "no-lrn"
        heads = " heads" if self.heads and self.mode != "train_step" else ""
        ranks = f" x{self.workers} {self.parallel}" if self.distributed else ""
        return (f"{self.framework} {self.variant} {self.mode} {lrn}{heads} b{self.batch_size} "
                f"{self.image_size}px {self.precision} {self.layout}{ranks}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Case:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# What identifies a case, in the order of the CSV columns.
_KEYS = sorted((f for f in fields(Case) if "key" in f.metadata), key=lambda f: f.metadata["key"])
CASE_KEY = [f.name for f in _KEYS]
KEY_TYPES = {f.name: {"bool": bool, "int": int}.get(f.type, str) for f in _KEYS}


def key_of(row) -> tuple:
    """A results row's case key, typed as ``Case.key`` types it (CSV reads may give numpy or text types)."""
    return tuple(KEY_TYPES[name](row[name]) for name in CASE_KEY)
