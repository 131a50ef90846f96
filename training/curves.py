"""Loss and accuracy per epoch as a PNG (the thesis's Fig. 5.7), from a run's history."""
from __future__ import annotations

from pathlib import Path

from .figures import pyplot, save_figure


def plot_curves(history: list[dict], path: Path, title: str = "") -> Path:
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for split, style in (("train", "-"), ("val", "--")):
        loss = [h.get(f"{split}_loss") for h in history]
        if any(v is not None for v in loss):
            ax_loss.plot(epochs, loss, style, label=f"{split} loss")
        for k, colour in (("top1", "tab:blue"), ("top5", "tab:orange")):
            acc = [100 * h[f"{split}_{k}"] if h.get(f"{split}_{k}") is not None else None for h in history]
            if any(v is not None for v in acc):
                ax_acc.plot(epochs, acc, style, color=colour, label=f"{split} {k.replace('top', 'top-')}")
    best = [h["epoch"] for h in history if h.get("best")]
    if best:
        for ax in (ax_loss, ax_acc):
            ax.axvline(best[-1], color="grey", lw=0.8, ls=":", label=f"best (epoch {best[-1]})")
    ax_loss.set(title="loss (negative log-likelihood)", xlabel="epoch", ylabel="loss (nats per image)")
    ax_acc.set(title="accuracy", xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 100))
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
