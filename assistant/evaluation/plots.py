"""Report plots (matplotlib, PNG, headless): scores per category and the latency histogram."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PLOTTED = ("answer_correct", "status_accuracy", "hit@5", "citation_recall", "numeric_exact")


def plot_categories(by_category: dict[str, dict[str, Any]], path: Path, metrics: Sequence[str] = PLOTTED) -> Path:
    cats = list(by_category)
    width = 0.8 / max(1, len(metrics))
    fig, ax = plt.subplots(figsize=(max(8, len(cats) * 0.9), 4.5))
    for i, name in enumerate(metrics):
        values = [by_category[c].get(name) for c in cats]
        xs = [x + i * width for x in range(len(cats))]
        ax.bar(xs, [v if v is not None else 0 for v in values], width=width, label=name,
               hatch=None, alpha=0.9)
        for x, v in zip(xs, values, strict=True):
            if v is None:
                ax.text(x, 0.01, "n/a", rotation=90, ha="center", va="bottom", fontsize=6, color="grey")
    ax.set_xticks([x + width * (len(metrics) - 1) / 2 for x in range(len(cats))])
    ax.set_xticklabels([f"{c}\n(n={by_category[c]['n']})" for c in cats], rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("Scores per category")
    ax.legend(fontsize=8, ncol=len(metrics), loc="upper center", bbox_to_anchor=(0.5, -0.32))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency(latencies_ms: Sequence[float], path: Path, p50: float | None, p95: float | None) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.hist(list(latencies_ms) or [0], bins=min(30, max(5, len(latencies_ms) // 4)), color="#4c78a8")
    for value, label, style in ((p50, "p50", "--"), (p95, "p95", ":")):
        if value is not None:
            ax.axvline(value, color="black", linestyle=style, linewidth=1)
            ax.text(value, ax.get_ylim()[1] * 0.92, f" {label} {value:.0f} ms", fontsize=8)
    ax.set_xlabel("latency per item (ms, all turns)")
    ax.set_ylabel("items")
    ax.set_title("Latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
