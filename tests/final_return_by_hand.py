"""The final-return definition computed with plain loops over env steps, independent of
rt_avg.analysis: each step counts the return of the episode it belongs to; the curve at x
is the mean of those over the steps in (x - w, x] (w = max(total / 10, total / points)),
the window ending at the last completed episode when x lies past it."""

from __future__ import annotations

from rt_avg.run.run_dir import read_episodes


def per_step(ends, returns, total):
    """{step: return of its episode} for steps 1..last completed end <= total."""
    out, start = {}, 0
    for end, ret in sorted((e, r) for e, r in zip(ends, returns) if e <= total):
        for s in range(int(start) + 1, int(end) + 1):
            out[s] = ret
        start = end
    return out


def curve(ends, returns, total, points=100):
    f = per_step(ends, returns, total)
    last = max(f) if f else 0
    width = max(total / 10, total / points)
    values = []
    for i in range(1, points + 1):
        hi = min(total * i / points, last)
        inside = [f[s] for s in f if hi - width < s <= hi]
        values.append(sum(inside) / len(inside) if inside else float("nan"))
    return values


def final_return(ends, returns, total):
    return curve(ends, returns, total)[-1]


def run_final_return(path, total):
    eps = read_episodes(path)
    return final_return([e["step"] for e in eps], [e["return"] for e in eps], total)
