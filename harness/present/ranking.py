"""report.md's rankings: the fastest framework per setting (each framework as it comes out of the box,
against the others), the best variant of each framework, and the seed's TF1 program beside TensorFlow.

A framework's own settings (its execution variant and layout, OWN_SETTINGS) are its choice, not a setting
the frameworks share: out of the box is the default variant in the native layout. Every median is
summary.csv's; a speed-up is one median over another.
"""

from __future__ import annotations

import pandas as pd

from harness.results.naming import (
    OWN_SETTINGS,
    extra_text,
    framework_text,
    is_reference,
    reference_text,
    speedup_text,
    variant_text,
    varied,
)

from .markdown import BLANK, case_columns, ms, section

OUT_OF_THE_BOX = ("each framework as its users get it out of the box: its default variant (TensorFlow: tf.function "
                  "graph; PyTorch: eager; JAX: jit) in its native layout")


def _groups(frame: pd.DataFrame, settings: list[str]):
    """(first row, rows) per mode, LRN and shared setting, in ``frame``'s order."""
    for _, group in frame.groupby(["mode", "lrn", *settings], sort=False):
        yield group.iloc[0], group


def _out_of_the_box(frame: pd.DataFrame) -> pd.Series:
    return (frame["variant"] == "default") & (frame["layout"] == "native")


def _own(ok: pd.DataFrame) -> list[str]:
    """The frameworks' own settings that vary in the run."""
    return [c for c in OWN_SETTINGS if c in varied(ok)]


def _choice_name(own: list[str]) -> str:
    """``variant``, ``layout`` or ``variant and layout``: what the run let each framework choose."""
    return " and ".join(own) or "variant"


def _choice(row, own: list[str]) -> str:
    """A framework's own settings of a case: ``xla``, ``compile NHWC``."""
    return extra_text(row, own or ["variant"])


def fastest(ok: pd.DataFrame) -> list[str]:
    """Per mode, LRN and shared setting: the fastest framework out of the box, the others as multiples of
    it, and, when the run has other variants or layouts, the fastest case of any."""
    settings, own = varied(ok, exclude=OWN_SETTINGS), _own(ok)
    ranked = ok[~is_reference(ok)]
    if ranked.empty:
        return []
    any_choice = not _out_of_the_box(ranked).all()
    columns = case_columns(settings)
    rows = []
    for first, group in _groups(ranked, settings):
        defaults = group[_out_of_the_box(group)].sort_values("median_s", kind="stable")
        if defaults.empty:
            row = [BLANK, BLANK, BLANK]
        else:
            best = defaults.iloc[0]
            others = [f"{r['framework']} {r['median_s'] / best['median_s']:.2f}x" for _, r in defaults[1:].iterrows()]
            row = [best["framework"], ms(best["median_s"]), ", ".join(others) or BLANK]
        if any_choice:
            top = group.loc[group["median_s"].idxmin()]
            row.append(f"{top['framework']} {_choice(top, own)}, {ms(top['median_s'])} ms")
        rows.append([cell(first) for _, cell in columns] + row)
    header = [name for name, _ in columns] + ["fastest", "median (ms)", "others (x fastest)"] + \
        ([f"fastest of any {_choice_name(own)}"] if any_choice else [])
    intro = (f"By median time per batch, {OUT_OF_THE_BOX}; the others as multiples of the fastest."
             + (" The last column ranks every variant and layout; the next section compares each framework's."
                if any_choice else "")
             + (" The seed's TF1 program is a reference and is not ranked." if len(ranked) < len(ok) else ""))
    return section("Fastest framework", intro, header, rows)


def best_variants(ok: pd.DataFrame) -> list[str]:
    """Per mode, LRN, shared setting and framework with more than one variant or layout: its fastest one
    and its speed-up over the framework out of the box."""
    settings, own = varied(ok, exclude=OWN_SETTINGS), _own(ok)
    columns = case_columns(settings)
    rows = []
    for first, group in _groups(ok, settings):
        for framework, cases in group.groupby("framework", sort=False):
            if len(cases) < 2:
                continue
            best = cases.loc[cases["median_s"].idxmin()]
            default = cases.loc[_out_of_the_box(cases), "median_s"]
            every = ", ".join(f"{_choice(r, own)} {ms(r['median_s'])}" for _, r in cases.iterrows())
            rows.append([cell(first) for _, cell in columns] + [
                framework_text(framework), _choice(best, own), ms(best["median_s"]),
                speedup_text(default.iloc[0], best["median_s"]) if len(default) else BLANK, every])
    if not rows:
        return []
    choice = _choice_name(own)
    header = [name for name, _ in columns] + ["framework", f"best {choice}", "median (ms)", "against out of the box",
                                              f"every {choice} (median ms)"]
    return section(f"Best {choice} per framework", f"Each framework's fastest {choice} where it ran more than one, "
                   "and its speed-up over the framework out of the box.", header, rows)


def seed_program(ok: pd.DataFrame) -> list[str]:
    """The seed's TF1 program beside TensorFlow out of the box, per mode, LRN and shared setting."""
    seed = ok[ok["framework"] == "tf1-seed"]
    if seed.empty:
        return []
    settings = varied(ok, exclude=OWN_SETTINGS)
    keys = ["mode", "lrn", *settings]
    tensorflow = ok[(ok["framework"] == "tensorflow") & _out_of_the_box(ok)].set_index(keys)["median_s"]
    columns = case_columns(settings)
    rows = []
    for _, r in seed.iterrows():
        tf = tensorflow.get(tuple(r[k] for k in keys), float("nan"))
        rows.append([cell(r) for _, cell in columns] + [
            ms(r["median_s"]), BLANK if pd.isna(tf) else ms(tf),
            BLANK if pd.isna(tf) else speedup_text(r["median_s"], tf)])
    intro = (f"`tf1-seed` is {reference_text('tf1-seed')} (its TF1 graph, run in a `tf.compat.v1` Session): a "
             f"reference for the TensorFlow backend, not one of the three frameworks. TensorFlow's "
             f"{variant_text('tensorflow', 'default')} variant should be no slower.")
    header = [name for name, _ in columns] + ["the seed's program (ms)", "TensorFlow default (ms)",
                                              "TensorFlow default against the seed's program"]
    return section("The seed's TF1 program, a reference", intro, header, rows)
