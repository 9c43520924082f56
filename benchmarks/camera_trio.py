"""`live-auto` with a third model: `live-stream` where a camera's grain is strong enough.

`live-auto` sends white noise to `live` and a camera's correlated grain to `live-camera`
(benchmarks/noise_gate.py). `live-stream` leads `live-camera` by 0.1-0.4 dB on every camera
setting with visible grain, but smooths nearly clean frames (a Gaussian sigma-1 image that the
kind gate takes for a camera's loses 5 dB more through it than through `live-camera`). So the
candidate splits the camera side by how strong the grain is, `NoiseMeter.spreads`' scale-1
spread (`fine`, runtime/noise_kind.py): `live-stream` at or above a level cut, `live-camera`
below it. This script measures every setting of noise_gate.py (camera noise at each light
level, JPEG, H.264 intra and streams; Gaussian 1-50; the camera's rendering without noise),
each image through all three models, and scores every level cut by the rule in BENCHMARKS.md
("A third model for a camera's grain"). The kind gate keeps its cut (CORRELATED_ABOVE).

    .venv/bin/python benchmarks/camera_trio.py --data ../shared/data --images validation \
        --out benchmarks/results/camera_trio_validation.json
    .venv/bin/python benchmarks/camera_trio.py --data ../shared/data --images set12 --cut C \
        --out benchmarks/results/camera_trio.json
"""

from __future__ import annotations

import functools

import numpy as np
from noise_gate import TOLERANCE, gate_command, measured_rows, per_image
from provenance import finished, write_result

from edgeae.runtime.noise_kind import CORRELATED_ABOVE

WHITE, FAINT, STRONG = "live", "live-camera", "live-stream"
CUTS = tuple(round(float(c), 2) for c in np.arange(0.25, 10.01, 0.25)) + (float("inf"),)
NEAR_PAIR = 0.05  # dB any setting may lose to today's pair (live, live-camera)
GAIN = 0.10  # dB the camera settings must gain on average for the trio to ship
TIE_DB = 0.005


def picked(row: dict, cut: float) -> np.ndarray:
    """Each image's model under the trio at level `cut` (inf: today's pair)."""
    ratio, fine = np.array(row["ratio"]), np.array(row["fine"])
    camera = np.where(fine >= cut, STRONG, FAINT)
    return np.where(ratio > CORRELATED_ABOVE, camera, WHITE)


def setting_cell(row: dict, cut: float) -> dict:
    """One setting at one cut: each model's mean, the pair's, the trio's, and the shares."""
    chosen, pair = picked(row, cut), picked(row, float("inf"))
    psnr = {m: np.array(row[m]) for m in (WHITE, FAINT, STRONG)}
    of = lambda picks: float(np.mean([psnr[m][i] for i, m in enumerate(picks)]))  # noqa: E731
    return {**{m: float(np.mean(v)) for m, v in psnr.items()}, "pair": of(pair),
            "trio": of(chosen), "to_stream": float(np.mean(chosen == STRONG))}


def cut_summary(rows: dict, guards: dict, cut: float) -> dict:
    """The rule's figures at one cut (T1, T2, the mean, the camera settings' gain)."""
    cells = {label: setting_cell(row, cut) for label, row in rows.items()}
    camera = [label for label in rows if guards[label] and not label.startswith("gaussian")]
    return {"settings": cells,
            "worst_guarded_db": min(c["trio"] - max(c[WHITE], c[FAINT], c[STRONG])
                                    for label, c in cells.items() if guards[label]),
            "worst_vs_pair_db": min(c["trio"] - c["pair"] for c in cells.values()),
            "mean_db": float(np.mean([c["trio"] for c in cells.values()])),
            "camera_gain_db": float(np.mean([cells[label]["trio"] - cells[label]["pair"]
                                             for label in camera]))}


def chosen_cut(by_cut: dict) -> float | None:
    """The rule: T1 and T2 on every setting, then the best mean; ties go to the larger cut.

    None where no cut meets both.
    """
    fine = {cut: s["mean_db"] for cut, s in by_cut.items()
            if s["worst_guarded_db"] >= -TOLERANCE and s["worst_vs_pair_db"] >= -NEAR_PAIR}
    if not fine:
        return None
    best = max(fine.values())
    return max(cut for cut, mean in fine.items() if mean >= best - TIE_DB)


def main() -> None:
    """Measure every setting through the three models, then each cut; write the results."""
    args, run = gate_command("camera_trio.py")
    rows, guards = measured_rows(args, (WHITE, FAINT, STRONG),
                                 functools.partial(per_image, where="whole"))
    by_cut = {cut: cut_summary(rows, guards, cut)
              for cut in ((args.cut,) if args.cut is not None else CUTS)}
    cut = args.cut if args.cut is not None else chosen_cut(by_cut)
    verdict = {"cut": cut, "ships": False} if cut is None else {
        **{k: v for k, v in by_cut[cut].items() if k != "settings"}, "cut": cut,
        "ships": cut != float("inf") and by_cut[cut]["camera_gain_db"] >= GAIN}
    write_result({"provenance": finished(run), "images": args.images, "guarded": guards,
                  "rows": rows, "verdict": verdict,
                  "cuts": {str(c): s for c, s in by_cut.items()}}, args.out)
    print(verdict)


if __name__ == "__main__":
    main()
