#!/usr/bin/env python3
"""Turns criterion's results for ferromq's benches into Markdown tables and an SVG chart.

Reads `<criterion-dir>/<group>/<library>/<param>/new/estimates.json` (the mean time of one
iteration, in nanoseconds; one iteration is one message or one round trip), prints the
tables of BENCHMARKS.md to stdout and writes a chart of PUSH/PULL throughput against
message size, both libraries, one panel per transport. Standard library only.

    python3 scripts/bench_chart.py [--criterion-dir DIR] [--svg PATH]

DIR defaults to $CARGO_TARGET_DIR/criterion, else target/criterion; PATH to
docs/push_pull_throughput.svg.
"""

import argparse
import json
import math
import os
import sys

LIBRARIES = ("ferromq", "libzmq")
TRANSPORTS = ("tcp", "ipc", "inproc")
SIZES = (16, 256, 4096, 65536)
COLOURS = {"ferromq": "#d9480f", "libzmq": "#1c7ed6"}


def mean_ns(root, *parts):
    """Mean time per iteration in ns, or None when that benchmark has not been run."""
    path = os.path.join(root, *parts, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["mean"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def size_label(size):
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def rate(per_second):
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if per_second >= scale:
            return f"{per_second / scale:.2f} {unit}"
    return f"{per_second:.0f} "


def ratio(ferromq, libzmq):
    """ferromq's figure over libzmq's, or a dash."""
    if ferromq is None or libzmq is None or libzmq == 0:
        return "–"
    return f"{ferromq / libzmq:.2f}"


def throughput_tables(root):
    """PUSH/PULL msg/s per transport; returns {transport: {library: {size: msg/s}}}."""
    data = {}
    for transport in TRANSPORTS:
        data[transport] = {}
        for library in LIBRARIES:
            data[transport][library] = {}
            for size in SIZES:
                ns = mean_ns(root, f"push_pull_{transport}", library, str(size))
                if ns:
                    data[transport][library][size] = 1e9 / ns
        print(f"\n#### PUSH/PULL over {transport}\n")
        print("| message size | ferromq msg/s | libzmq msg/s | ferromq MB/s | libzmq MB/s "
              "| ratio ferromq/libzmq | same, `_bytes` group (repeat) |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for size in SIZES:
            f = data[transport]["ferromq"].get(size)
            z = data[transport]["libzmq"].get(size)
            cells = [rate(x) if x else "–" for x in (f, z)]
            cells += [f"{x * size / 1e6:.1f}" if x else "–" for x in (f, z)]
            # The `_bytes` group measures the same thing again: a second run's ratio.
            f2, z2 = (mean_ns(root, f"push_pull_{transport}_bytes", lib, str(size))
                      for lib in LIBRARIES)
            repeat = ratio(1e9 / f2, 1e9 / z2) if f2 and z2 else "–"
            print(f"| {size_label(size)} | " + " | ".join(cells)
                  + f" | **{ratio(f, z)}** | {repeat} |")
    return data


def latency_table(root):
    print("\n#### REQ/REP round trip, 16 B\n")
    print("| transport | ferromq µs | libzmq µs | ratio ferromq/libzmq (time; lower is better) |")
    print("|---|---:|---:|---:|")
    for transport in TRANSPORTS:
        f = mean_ns(root, "req_rep_16B", "ferromq", transport)
        z = mean_ns(root, "req_rep_16B", "libzmq", transport)
        cells = [f"{x / 1e3:.1f}" if x else "–" for x in (f, z)]
        print(f"| {transport} | " + " | ".join(cells) + f" | {ratio(f, z)} |")


def fanout_table(root):
    print("\n#### PUB to 10 SUBs over tcp, 64 B\n")
    print("| | ferromq | libzmq | ratio ferromq/libzmq |")
    print("|---|---:|---:|---:|")
    f = mean_ns(root, "pub_sub_tcp_64B_10subs", "ferromq")
    z = mean_ns(root, "pub_sub_tcp_64B_10subs", "libzmq")
    f_rate, z_rate = (1e9 / x if x else None for x in (f, z))
    cells = [rate(x) if x else "–" for x in (f_rate, z_rate)]
    print("| messages/s published (each received by all 10) | " + " | ".join(cells)
          + f" | {ratio(f_rate, z_rate)} |")


def svg_chart(data, path):
    """One panel per transport: log2 message size across, log10 msg/s up."""
    width, height = 300, 260
    left, right, top, bottom = 72, 12, 30, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for t in data.values() for lib in t.values() for v in lib.values()]
    if not values:
        print("no push_pull results found; no chart written", file=sys.stderr)
        return
    y_lo = 10 ** math.floor(math.log10(min(values)))
    y_hi = 10 ** math.ceil(math.log10(max(values)))
    x_lo, x_hi = math.log2(SIZES[0]), math.log2(SIZES[-1])

    def x_of(size):
        return left + (math.log2(size) - x_lo) / (x_hi - x_lo) * plot_w

    def y_of(value):
        span = math.log10(y_hi) - math.log10(y_lo)
        return top + plot_h - (math.log10(value) - math.log10(y_lo)) / span * plot_h

    total_w = width * len(TRANSPORTS)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height + 24}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{total_w}" height="{height + 24}" fill="white"/>']
    for i, transport in enumerate(TRANSPORTS):
        out.append(f'<g transform="translate({i * width},0)">')
        out.append(f'<text x="{left + plot_w / 2}" y="18" text-anchor="middle" '
                   f'font-weight="bold">PUSH/PULL over {transport}</text>')
        out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" '
                   f'fill="none" stroke="#888"/>')
        decade = y_lo
        while decade <= y_hi:
            y = y_of(decade)
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                       f'stroke="#ddd"/>')
            out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
                       f'{rate(decade).strip()}</text>')
            decade *= 10
        for size in SIZES:
            x = x_of(size)
            out.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                       f'{size_label(size)}</text>')
        out.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">'
                   f'message size</text>')
        out.append(f'<text transform="translate(12,{top + plot_h / 2}) rotate(-90)" '
                   f'text-anchor="middle">messages/s (log)</text>')
        for library in LIBRARIES:
            points = sorted(data[transport][library].items())
            if not points:
                continue
            coords = " ".join(f"{x_of(s):.1f},{y_of(v):.1f}" for s, v in points)
            dash = ' stroke-dasharray="5,3"' if library == "libzmq" else ""
            out.append(f'<polyline points="{coords}" fill="none" stroke="{COLOURS[library]}" '
                       f'stroke-width="2"{dash}/>')
            for s, v in points:
                out.append(f'<circle cx="{x_of(s):.1f}" cy="{y_of(v):.1f}" r="3" '
                           f'fill="{COLOURS[library]}"/>')
        out.append("</g>")
    for j, library in enumerate(LIBRARIES):
        x = left + j * 110
        dash = ' stroke-dasharray="5,3"' if library == "libzmq" else ""
        out.append(f'<line x1="{x}" y1="{height + 12}" x2="{x + 24}" y2="{height + 12}" '
                   f'stroke="{COLOURS[library]}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{x + 30}" y="{height + 16}">{library}</text>')
    out.append("</svg>")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"\n(chart written to {path})", file=sys.stderr)


def main():
    default_root = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criterion-dir", default=default_root)
    parser.add_argument("--svg", default=os.path.join("docs", "push_pull_throughput.svg"))
    args = parser.parse_args()
    data = throughput_tables(args.criterion_dir)
    latency_table(args.criterion_dir)
    fanout_table(args.criterion_dir)
    svg_chart(data, args.svg)


if __name__ == "__main__":
    main()
