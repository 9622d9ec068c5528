"""The budget chart of a project page: used, committed and left over time, stacked, as SVG
shapes computed here (no script): used at the bottom, committed on it, left on top."""

from decimal import Decimal

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 64, 28, 12


def budget_chart(series, *, now, zone) -> dict | None:
    """Polygons, axes and the "now" line for `series` (usage Points, in time order)."""
    if len(series) < 2:
        return None
    t0, t1 = series[0].time, series[-1].time
    span = (t1 - t0).total_seconds() or 1
    top = max([p.used + p.committed + max(p.left, Decimal(0)) for p in series] + [Decimal(1)])

    def x(t) -> float:
        return round(LEFT + (WIDTH - LEFT - 8) * (t - t0).total_seconds() / span, 1)

    def y(v) -> float:
        plot = HEIGHT - BOTTOM - TOP
        return round(HEIGHT - BOTTOM - plot * float(v) / float(top), 1)

    def band(lower, upper) -> str:
        ups = [f"{x(p.time)},{y(upper(p))}" for p in series]
        downs = [f"{x(p.time)},{y(lower(p))}" for p in reversed(series)]
        return " ".join(ups + downs)

    bands = [
        {"name": "used", "points": band(lambda p: 0, lambda p: p.used)},
        {"name": "committed", "points": band(lambda p: p.used, lambda p: p.used + p.committed)},
        {
            "name": "left",
            "points": band(
                lambda p: p.used + p.committed,
                lambda p: p.used + p.committed + max(p.left, Decimal(0)),
            ),
        },
    ]
    ticks = []
    for i in range(5):
        t = t0 + (t1 - t0) * i / 4
        local = t.astimezone(zone)
        label = local.strftime("%-d %b") if span > 8 * 86400 else local.strftime("%-d %b %H:%M")
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        ticks.append({"x": x(t), "label": label, "anchor": anchor})
    levels = [{"y": y(top * i / 4), "label": f"{(top * i / 4):,.0f}"} for i in range(5)]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "base": HEIGHT - BOTTOM,
        "bands": bands,
        "ticks": ticks,
        "levels": levels,
        "now": x(now) if t0 <= now <= t1 else None,
    }
