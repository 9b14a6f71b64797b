"""The seed's ``print_activations`` listing as a backend really computes it."""

from __future__ import annotations

from frameworks import RunConfig, backend_class
from frameworks.spec import ModelSpec
from frameworks.weights import canonical_weights, random_images


def backend_shapes(framework: str, spec: ModelSpec, device: str = "cpu") -> list[tuple[str, tuple[int, ...]]]:
    """(layer, NHWC shape) per conv, pool and FC layer from ``framework``'s own forward."""
    backend = backend_class(framework)(spec, canonical_weights(spec), RunConfig(device))
    backend.set_input(random_images(spec))
    return backend.activation_shapes()


def backend_listing(framework: str, spec: ModelSpec, device: str = "cpu") -> str:
    """The listing in the seed's format: ``name   [shape]`` per line."""
    return "\n".join(f"{name}   {list(shape)}" for name, shape in backend_shapes(framework, spec, device))
