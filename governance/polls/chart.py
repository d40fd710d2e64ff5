"""A server-rendered SVG of how votes flowed between counting rounds (pure; no Flask, no DB).

Each round is a column of bars, one per candidate still in the count (height = votes) plus
exhausted votes in grey. Bands join a candidate's bar to its bar in the next round (votes kept),
and bands from a candidate who was excluded, or elected with a surplus, fan out to the candidates
who gained in the next round, in proportion to their gains: the picture of a transfer. The SVG
has a <title> and <desc> and a text legend, and every bar carries a <title> with exact figures,
so it reads without colour and without JavaScript.
"""

from __future__ import annotations

from html import escape
from typing import Any

PALETTE = ["#2f5bd3", "#d35f2f", "#2f9e6a", "#8a4fd3", "#c23b7a", "#1d8ca6", "#a67c1d", "#5b6475",
           "#3c7d22", "#b3261e", "#6d4c9f", "#0f766e"]
EXHAUSTED = "exhausted"


def _num(text: Any) -> float:
    """Parse an exact number as published ("12", "3.5", "0.333~1/3") for drawing only."""
    if isinstance(text, (int, float)):
        return float(text)
    return float(str(text).split("~", 1)[0] or 0)


def flow_svg(result: dict[str, Any], *, width: int = 900, height: int = 420) -> str:
    """Render the round-by-round flow of a result (``Result.to_dict()``) as an SVG string.

    >>> svg = flow_svg({"method": "irv", "elected": ["a"], "rounds": [
    ...     {"round": 1, "votes": {"a": "3", "b": "2", "c": "1"}, "excluded": ["c"], "elected": [], "exhausted": "0"},
    ...     {"round": 2, "votes": {"a": "4", "b": "2"}, "excluded": [], "elected": ["a"], "exhausted": "0"}]})
    >>> svg.startswith("<svg") and "round 2" in svg and "a: 4 votes" in svg
    True
    """
    rounds = result.get("rounds") or []
    if not rounds:
        return ""
    names: list[str] = []
    for rnd in rounds:
        for name in rnd.get("votes", {}):
            if name not in names:
                names.append(name)
    color = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    color[EXHAUSTED] = "#b8bec9"
    columns = []
    for rnd in rounds:
        values = {n: _num(v) for n, v in rnd.get("votes", {}).items() if _num(v) > 0 or n in rnd.get("elected", [])}
        exhausted = _num(rnd.get("exhausted", 0))
        if exhausted > 0:
            values[EXHAUSTED] = exhausted
        columns.append(values)
    total = max(sum(col.values()) for col in columns) or 1.0
    left, right, top, bottom, label_w = 20, 20, 40, 30, 130
    n = len(columns)
    bar_w = 18
    gap_x = (width - left - right - label_w - bar_w) / max(1, n - 1) if n > 1 else 0
    usable_h = height - top - bottom
    pad = 4
    scale = (usable_h - pad * (len(names) + 1)) / total
    positions: list[dict[str, tuple[float, float]]] = []
    for col in columns:
        y = top
        pos = {}
        for name in [*names, EXHAUSTED]:
            if name in col:
                h = max(1.0, col[name] * scale)
                pos[name] = (y, h)
                y += h + pad
        positions.append(pos)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="flow-title flow-desc">',
        '<title id="flow-title">How votes moved between rounds</title>',
        f'<desc id="flow-desc">{escape(_describe(rounds))}</desc>',
    ]
    # Bands first, so bars draw over them.
    for i in range(n - 1):
        x0 = left + i * gap_x + bar_w
        x1 = left + (i + 1) * gap_x
        here, there = columns[i], columns[i + 1]
        gains = {k: there[k] - here.get(k, 0.0) for k in there if there[k] - here.get(k, 0.0) > 1e-12}
        losers = [k for k in here if k != EXHAUSTED and (k not in there or here[k] - there.get(k, 0.0) > 1e-12)]
        out_offset = {k: 0.0 for k in here}
        in_offset = {k: 0.0 for k in there}
        for name in here:  # votes kept
            if name in there:
                kept = min(here[name], there[name])
                y0, _h0 = positions[i][name]
                y1, _h1 = positions[i + 1][name]
                parts.append(_band(x0, y0, x1, y1, kept * scale, color[name], f"{name} keeps {_fmt(kept)}"))
                out_offset[name] += kept * scale
                in_offset[name] += kept * scale
        moved = sum(here[k] - there.get(k, 0.0) for k in losers)
        for loser in losers:
            lost = here[loser] - there.get(loser, 0.0)
            for gainer, gain in gains.items():
                share = lost * gain / moved if moved else 0.0
                if share <= 0:
                    continue
                y0 = positions[i][loser][0] + out_offset[loser]
                y1 = positions[i + 1][gainer][0] + in_offset[gainer]
                parts.append(_band(x0, y0, x1, y1, share * scale, color[loser],
                                   f"{_fmt(share)} from {loser} to {gainer}"))
                out_offset[loser] += share * scale
                in_offset[gainer] += share * scale
    for i, col in enumerate(columns):
        x = left + i * gap_x
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top - 12}" text-anchor="middle" font-size="12" '
                     f'fill="#1d2330">round {rounds[i].get("round", i + 1)}</text>')
        for name, (y, h) in positions[i].items():
            status = ""
            if name in rounds[i].get("elected", []):
                status = " (elected)"
            elif name in rounds[i].get("excluded", []):
                status = " (excluded)"
            label = f"{name}: {_fmt(col[name])} votes{status}"
            stroke = ' stroke="#1d2330" stroke-width="2"' if status == " (elected)" else ""
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w}" height="{h:.1f}" fill="{color[name]}"'
                         f'{stroke}><title>{escape(label)}</title></rect>')
    # Final column labels (names at the last bar of each candidate).
    last_x = left + (n - 1) * gap_x + bar_w + 6
    for name in [*names, EXHAUSTED]:
        for i in range(n - 1, -1, -1):
            if name in positions[i]:
                y, h = positions[i][name]
                x = left + i * gap_x + bar_w + 4 if i < n - 1 else last_x
                mark = " ✓" if name in (result.get("elected") or []) else ""
                parts.append(f'<text x="{x:.1f}" y="{y + min(h, 14) - 2:.1f}" font-size="11" fill="#1d2330">'
                             f'{escape(name + mark)}</text>')
                break
    parts.append("</svg>")
    return "".join(parts)


def _band(x0: float, y0: float, x1: float, y1: float, h: float, fill: str, title: str) -> str:
    if h <= 0:
        return ""
    mid = (x0 + x1) / 2
    d = (f"M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f} "
         f"L{x1:.1f},{y1 + h:.1f} C{mid:.1f},{y1 + h:.1f} {mid:.1f},{y0 + h:.1f} {x0:.1f},{y0 + h:.1f} Z")
    return f'<path d="{d}" fill="{fill}" fill-opacity="0.28"><title>{escape(title)}</title></path>'


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.4f}".rstrip("0").rstrip(".")


def _describe(rounds: list[dict[str, Any]]) -> str:
    lines = []
    for rnd in rounds:
        bits = []
        if rnd.get("elected"):
            bits.append("elected " + ", ".join(rnd["elected"]))
        if rnd.get("excluded"):
            bits.append("excluded " + ", ".join(rnd["excluded"]))
        lines.append(f"Round {rnd.get('round')}: " + ("; ".join(bits) if bits else "no change") + ".")
    return " ".join(lines)
