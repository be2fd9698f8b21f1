"""The P2 rollout timeline as a PNG (pods on the new image and Ready over time, kruise-py next to
the upstream StatefulSet): `python -m bench.report [bench/results/P2.json] [out.png]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_PNG = Path(__file__).resolve().parent.parent / "docs" / "img" / "p2-rollout-timeline.png"


def plot_p2(res: dict[str, Any], out: Path = DEFAULT_PNG) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    for key, label, style in (("kruise_py", f"kruise-py, in place, maxUnavailable {res['max_unavailable']}", "-"),
                              ("upstream", "upstream apps/v1 StatefulSet RollingUpdate", "--")):
        if key not in res:
            continue
        pts = res[key].get("timeline") or []
        xs, ys = [0.0] + [p[0] for p in pts], [0] + [p[1] for p in pts]
        ax.step(xs, ys, style, where="post", label=f"{label}: {res[key]['wall_s']:.0f} s")
    floor = res.get("node_side_floor_s")
    if floor:
        ax.axvline(floor, color="grey", lw=0.8, ls=":", label=f"node-side floor {floor:g} s")
    ax.set_xlabel("seconds since the image change")
    ax.set_ylabel("pods on the new image and Ready")
    ax.set_title(f"P2: {res['pods']}-pod image rollout ({res['meta']['date'] if 'meta' in res else ''})")
    ax.set_ylim(0, res["pods"] * 1.05)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results" / "P2.json"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_PNG
    print(plot_p2(json.loads(src.read_text()), out))


if __name__ == "__main__":
    main()
