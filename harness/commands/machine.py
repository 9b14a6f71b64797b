"""The commands about this machine and the network: ``peak``, ``env`` and ``layers``."""

from __future__ import annotations

import json

from frameworks.spec import activation_listing, format_layer_table
from harness.measure.activations import backend_listing
from harness.measure.peak import measure_peaks
from harness.present import terminal, views
from harness.results import envinfo

from .options import PEAK_OPTIONS, Checks
from .parity import installed, model_spec


def cmd_peak(args) -> int:
    checks = Checks()
    v = {name: checks.value(option, getattr(args, name)) for name, option in PEAK_OPTIONS.items()}
    checks.done()
    present = installed(v["frameworks"], "measure")
    terminal.show(views.peak_lines(measure_peaks(present, args.device, v["threads"], v["seconds"], timeout=600)))
    return 0


def cmd_env(args) -> int:
    print(json.dumps(envinfo.environment(), indent=2))
    return 0


def cmd_layers(args) -> int:
    checks = Checks()
    spec = model_spec(args, checks)
    checks.done()
    print(format_layer_table(spec))
    print()
    print(backend_listing(args.framework, spec, args.device) if args.framework else activation_listing(spec))
    return 0
