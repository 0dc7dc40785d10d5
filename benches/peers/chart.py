#!/usr/bin/env python3
"""Draws the throughput ratios to libzmq of a `--out` file as an SVG bar chart.

    python3 benches/peers/chart.py RESULTS.md [--svg benches/peers/chart.svg]

Reads the "Ratio to libzmq" tables of the PUSH/PULL and PUB/SUB sections (the median of
the rounds, the first number of each cell) and draws, for every row, one bar per library,
with a line at 1 (libzmq). Cells without a figure ("n/a", "failed: ...") get no bar and a
mark saying so. Standard library only.
"""

import argparse
import html
import os
import re
import sys

COLOURS = {
    "ferromq": "#c0392b",
    "ferromq-async": "#e67e22",
    "zmq.rs": "#2980b9",
    "rzmq": "#27ae60",
    "omq-tokio": "#8e44ad",
}


def ratio_tables(text):
    """Yields (section title, header cells, rows) for each ratio table of a throughput
    section, rows being lists of cells."""
    section = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("### "):
            section = line[4:].strip()
        elif line.startswith("Ratio to libzmq") and section and "round trip" not in section:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("|"):
                j += 1
            table = []
            while j < len(lines) and lines[j].startswith("|"):
                table.append([c.strip() for c in lines[j].strip().strip("|").split("|")])
                j += 1
            if len(table) >= 2:
                yield section, table[0], table[2:]
            i = j
            continue
        i += 1


def parse_ratio(cell):
    match = re.match(r"^\s*([0-9.]+)×", cell)
    return float(match.group(1)) if match else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a file written by --out")
    parser.add_argument(
        "--svg",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "chart.svg"),
        help="where to write the chart (default: chart.svg beside this script)",
    )
    args = parser.parse_args()
    with open(args.results, encoding="utf-8") as f:
        text = f.read()

    rows = []  # (label, {lib: ratio or None}, {lib: reason})
    libs = []
    for section, header, table in ratio_tables(text):
        # Library columns only (not the "best of ..." summary column).
        names = [n for n in header[2:] if not n.startswith("best of")]
        for lib in names:
            if lib != "libzmq" and lib not in libs:
                libs.append(lib)
        short = "PUB→10 SUB" if section.startswith("PUB") else "PUSH/PULL"
        for cells in table:
            label = f"{short} {cells[0]} {cells[1]}"
            values, reasons = {}, {}
            for lib, cell in zip(names, cells[2:]):
                if lib == "libzmq":
                    continue
                values[lib] = parse_ratio(cell)
                if values[lib] is None:
                    reasons[lib] = cell.split(" (")[0].split(":")[0]
            rows.append((label, values, reasons))
    if not rows:
        sys.exit(f"no throughput ratio table in {args.results}")

    first = text.splitlines()[0] if text else ""
    top = max([v for _, vals, _ in rows for v in vals.values() if v] + [1.0])
    scale_max = max(2.0, float(int(top + 0.999)))
    bar_h, gap, left, width = 9, 10, 190, 560
    group_h = bar_h * len(libs) + gap
    legend_h = 40
    height = 60 + legend_h + group_h * len(rows) + 40
    total_w = left + width + 60
    x_of = lambda v: left + width * min(v, scale_max) / scale_max

    out = []
    add = out.append
    add(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height}" '
        f'font-family="sans-serif" font-size="11">'
    )
    add(f'<rect width="{total_w}" height="{height}" fill="white"/>')
    add(
        f'<text x="{total_w / 2}" y="20" text-anchor="middle" font-size="14">'
        "Throughput ÷ libzmq, same round (median; higher is better)</text>"
    )
    add(
        f'<text x="{total_w / 2}" y="36" text-anchor="middle" fill="#555">'
        f"{html.escape(first)}</text>"
    )
    # The legend spreads over the plot's width, however many columns the file has.
    step = min(115, (width + 60) // max(len(libs), 1))
    for k, lib in enumerate(libs):
        x = left + k * step
        add(f'<rect x="{x}" y="48" width="12" height="12" fill="{COLOURS.get(lib, "#777")}"/>')
        add(f'<text x="{x + 16}" y="58">{html.escape(lib)}</text>')
    y0 = 60 + legend_h
    # Grid and the libzmq line.
    step = 0.5 if scale_max <= 4 else 1.0
    v = 0.0
    while v <= scale_max + 1e-9:
        x = x_of(v)
        colour, w = ("#000", 1.5) if abs(v - 1.0) < 1e-9 else ("#ddd", 1)
        add(
            f'<line x1="{x:.1f}" y1="{y0 - 6}" x2="{x:.1f}" y2="{y0 + group_h * len(rows)}" '
            f'stroke="{colour}" stroke-width="{w}"/>'
        )
        add(
            f'<text x="{x:.1f}" y="{y0 + group_h * len(rows) + 14}" text-anchor="middle">'
            f"{v:g}×</text>"
        )
        v += step
    for r, (label, values, reasons) in enumerate(rows):
        gy = y0 + r * group_h
        add(
            f'<text x="{left - 8}" y="{gy + group_h / 2}" text-anchor="end" '
            f'dominant-baseline="middle">{html.escape(label)}</text>'
        )
        for k, lib in enumerate(libs):
            y = gy + k * bar_h
            value = values.get(lib)
            if value is None:
                reason = reasons.get(lib, "not run")
                add(
                    f'<text x="{left + 3}" y="{y + bar_h - 1}" font-size="8" fill="#777">'
                    f"{html.escape(lib)}: {html.escape(reason)}</text>"
                )
                continue
            x = x_of(value)
            add(
                f'<rect x="{left}" y="{y}" width="{x - left:.1f}" height="{bar_h - 1}" '
                f'fill="{COLOURS.get(lib, "#777")}"/>'
            )
            add(f'<text x="{x + 3:.1f}" y="{y + bar_h - 1}" font-size="8">{value:.2f}</text>')
    add("</svg>")
    with open(args.svg, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {args.svg} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
