"""The geometry of the report page's chart, computed on the server and drawn by the
template as inline SVG: bars of members transferred in and out each month, and a line of
the closing count on its own scale. No JavaScript, nothing loaded from elsewhere."""

from __future__ import annotations

from typing import Any

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 44, 16, 40


def nice_ceiling(value: float) -> int:
    """A round upper bound for an axis (1, 2, 5 times a power of ten)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def monthly_chart(months: list[dict[str, Any]]) -> dict[str, Any]:
    """`months`: oldest first, each with month, transferred_in, transferred_out, closing."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    flow_max = nice_ceiling(max([m["transferred_in"] for m in months] + [m["transferred_out"] for m in months]
                                + [0]))
    closings = [m["closing"] for m in months]
    stock_max = nice_ceiling(max([*closings, 0]))
    slot = plot_w / max(len(months), 1)
    bar = slot * 0.32
    bars, labels, points = [], [], []
    for i, m in enumerate(months):
        x = LEFT + i * slot
        for j, (figure, css) in enumerate((("transferred_in", "bar-in"), ("transferred_out", "bar-out"))):
            h = plot_h * m[figure] / flow_max
            bars.append({"x": round(x + slot * 0.16 + j * bar, 1), "y": round(base - h, 1),
                         "w": round(bar, 1), "h": round(h, 1), "css": css, "value": m[figure],
                         "month": m["month"], "figure": figure})
        labels.append({"x": round(x + slot / 2, 1), "y": base + 16, "text": m["month"][2:]})
        points.append((round(x + slot / 2, 1), round(base - plot_h * m["closing"] / stock_max, 1)))
    return {
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "base": base,
        "bars": bars, "labels": labels,
        "line": " ".join(f"{x},{y}" for x, y in points),
        "dots": [{"x": x, "y": y, "value": m["closing"], "month": m["month"]}
                 for (x, y), m in zip(points, months, strict=True)],
        "flow_max": flow_max, "stock_max": stock_max,
    }
