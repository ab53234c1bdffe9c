"""A sender's rate over time: congestion controllers' targets, one line per connection."""

from __future__ import annotations

from pathlib import Path

from roomsim.analysis.style import new_figure, save_figure, series_style, styled


@styled
def rate_over_time(series: dict[str, list[float]], interval_s: float, out_dir: Path, stem: str, title: str,
                   levels: dict[str, float] | None = None) -> list[Path]:
    """Draw kbps series sampled every `interval_s` (from t = 0), with optional horizontal
    reference levels (a share, a maximum); writes `stem`.png and .svg into `out_dir`."""
    fig = new_figure(9.0, 5.0)
    ax = fig.subplots()
    for i, (label, values) in enumerate(series.items()):
        style = series_style(label, i)
        ax.plot([k * interval_s for k in range(len(values))], values, color=style.color,
                linestyle=style.linestyle, label=label)
    for i, (label, level) in enumerate((levels or {}).items()):
        ax.axhline(level, color="0.4", linestyle=(":", "--")[i % 2], linewidth=1.0, label=label)
    ax.set_xlabel("time, s")
    ax.set_ylabel("video target, kbps")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(loc="lower right")
    return save_figure(fig, out_dir, stem)
