"""Praat TextGrid writer (long text format) and reader (any format praatio reads)."""

from __future__ import annotations

from pathlib import Path


def _q(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def fill(intervals, xmax: float):
    """Make a tier contiguous from 0 to xmax: gaps become empty intervals, tiny overlaps are cut."""
    out = []
    t = 0.0
    for a, b, lab in intervals:
        a = max(a, t)
        b = min(b, xmax)
        if b - a <= 1e-9:
            continue
        if a - t > 1e-9:
            out.append((t, a, ""))
        out.append((a, b, lab))
        t = b
    if xmax - t > 1e-9:
        out.append((t, xmax, ""))
    if not out:
        out.append((0.0, xmax, ""))
    return out


def render(tiers: dict[str, list[tuple[float, float, str]]], xmax: float) -> str:
    """TextGrid text with interval tiers in the given order, each filled to [0, xmax]."""
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "",
             "xmin = 0", f"xmax = {xmax:.6f}", "tiers? <exists>", f"size = {len(tiers)}", "item []:"]
    for i, (name, ivs) in enumerate(tiers.items(), 1):
        ivs = fill(ivs, xmax)
        lines += [f"    item [{i}]:", '        class = "IntervalTier"', f"        name = {_q(name)}",
                  "        xmin = 0", f"        xmax = {xmax:.6f}", f"        intervals: size = {len(ivs)}"]
        for j, (a, b, lab) in enumerate(ivs, 1):
            lines += [f"        intervals [{j}]:", f"            xmin = {a:.6f}", f"            xmax = {b:.6f}",
                      f"            text = {_q(lab)}"]
    return "\n".join(lines) + "\n"


def read(path: str | Path) -> dict[str, list[tuple[float, float, str]]]:
    """tier name -> [(start, end, label)] for the interval tiers of a TextGrid."""
    from praatio import textgrid

    tg = textgrid.openTextgrid(str(path), includeEmptyIntervals=True)
    out = {}
    for name in tg.tierNames:
        tier = tg.getTier(name)
        if tier.tierType == "IntervalTier":
            out[name] = [(float(e.start), float(e.end), e.label) for e in tier.entries]
    return out
