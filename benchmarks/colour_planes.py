"""Colour frames through a gray denoiser: plane by plane, opponent planes, luma and chroma.

The rule, written in BENCHMARKS.md ("Colour frames through a gray denoiser") before this ran:
on scikit-image's colour photos `coffee`, `chelsea` and `rocket` (validation), choose
luma-chroma's shrink K, guided-filter radius r and whether the model denoises the chroma, by
`live-camera` int8's mean PSNR over the 8 camera settings; adopt it as the camera models' way
if it beats plane by plane at every camera setting for `live-camera`, `quality-camera` and
`live-stream`; adopt `opponent` for the Gaussian models if it beats plane by plane by 0.1 dB or
more at sigma 15, 25 and 50 for `live` and `quality`. Then the held-out photos, once, beside
OpenCV's colour non-local means with (h, hColor) chosen per setting on the validation photos,
and the time per 640x480 colour frame of each way. Frames are uint8 BGR through the runtime's
`Denoiser.denoise`, as a camera delivers them (onnxruntime, whose shapes are free: the
model-on candidates call it on the small chroma too; timings through OpenVINO).

    .venv/bin/python benchmarks/colour_planes.py --out benchmarks/results/colour_planes.json
    .venv/bin/python benchmarks/colour_planes.py --picture docs/colour-planes.jpg
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from provenance import finished, provenance, write_result
from skimage import data

import edgeae.runtime as rt
from edgeae.runtime.colour import LumaChroma
from edgeae.runtime.pretrained import pretrained_path
from edgeae.train.camera import PRESETS, CameraNoise

VALIDATION = ("coffee", "chelsea", "rocket")
TEST = ("astronaut", "motorcycle_left", "ihc", "hubble_deep_field", "retina")
CAMERA = [(level, jpeg) for jpeg in (None, 85) for level in PRESETS]
SIGMAS = (15, 25, 50)
SHRINKS, RADII = (2, 4, 8), (4, 8, 16)
TIE_DB = 0.02
MODELS = {"live-camera": "int8", "quality-camera": "fp32", "live-stream": "int8",
          "live": "int8", "quality": "fp32"}
NLM_H, NLM_H_COLOUR = (3, 5, 8, 12, 18, 25, 35), (3, 5, 8, 12, 18, 25, 35, 50, 70)


def setting_name(setting: tuple) -> str:
    """`dim, JPEG 85`, `gaussian 25`."""
    kind, *rest = setting
    if kind == "gaussian":
        return f"gaussian {rest[0]}"
    return kind + (f", JPEG {rest[0]}" if rest[0] else "")


def settings() -> list[tuple]:
    """The 8 camera settings, then the 3 Gaussian ones."""
    return [*CAMERA, *(("gaussian", s) for s in SIGMAS)]


def photo(name: str) -> np.ndarray:
    """A scikit-image colour photo by its file's name (RGB uint8; bundled, no download)."""
    loaders = {"motorcycle_left": lambda: data.stereo_motorcycle()[0],
               "ihc": data.immunohistochemistry}
    return loaders.get(name, getattr(data, name, None))()[..., :3]


def noisy_frames(images: tuple[str, ...], setting: tuple) -> list[tuple[np.ndarray, np.ndarray]]:
    """(clean RGB uint8, noisy BGR uint8) of each photo, noise seeded by photo and setting."""
    pairs = []
    for i, name in enumerate(images):
        clean = photo(name)
        unit = clean.astype(np.float32) / 255
        rng = np.random.default_rng([i, *map(hash_free, setting)])
        if setting[0] == "gaussian":
            noisy = unit + rng.normal(0, setting[1] / 255, unit.shape).astype(np.float32)
        else:
            peak, read = PRESETS[setting[0]]
            jpeg = (setting[1], setting[1]) if setting[1] else None
            noisy = CameraNoise((peak, peak), (read, read), jpeg).one(unit, rng)
        noisy8 = np.clip(np.rint(noisy * 255), 0, 255).astype(np.uint8)
        pairs.append((clean, cv2.cvtColor(noisy8, cv2.COLOR_RGB2BGR)))
    return pairs


def hash_free(value: object) -> int:
    """A stable integer for a seed (Python's str hash changes between runs)."""
    return sum(ord(c) * 31 ** i for i, c in enumerate(str(value))) % (2 ** 31)


def psnr(clean_rgb: np.ndarray, bgr: np.ndarray) -> float:
    """PSNR in dB of a BGR uint8 result against the clean RGB photo."""
    return float(cv2.PSNR(clean_rgb, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))


class ChromaByModel(LumaChroma):
    """luma-chroma with the model on the shrunk chroma too (a candidate, not shipped)."""

    def __init__(self, model, shrink: int, radius: int) -> None:
        super().__init__(shrink, radius)
        self.model = model

    def chroma_at_size(self, chroma: np.ndarray) -> np.ndarray:  # noqa: D102
        return self.model.denoise(np.ascontiguousarray(chroma))


def open_model(name: str, threads: int, backend: str = "onnxruntime"):
    """The shipped model `name` at its precision here, through the runtime."""
    return rt.load(pretrained_path(name, backend, MODELS[name]), backend=backend,
                   num_threads=threads)


def mean_psnr(model, way, pairs) -> float:
    """Mean PSNR of `model` denoising the pairs' noisy frames with colour way `way`."""
    return float(np.mean([psnr(clean, way.denoise(noisy, "bgr", np.empty_like(noisy),
                                                   model.reconstruct))
                          for clean, noisy in pairs]))


def candidates(chroma_model) -> dict[str, LumaChroma]:
    """luma-chroma's candidates by label, cheapest first (model off before on, larger K)."""
    found = {}
    for model_on, k, r in itertools.product((False, True), SHRINKS[::-1], RADII):
        label = f"K={k} r={r} chroma by {'model' if model_on else 'filter'}"
        found[label] = ChromaByModel(chroma_model, k, r) if model_on else LumaChroma(k, r)
    return found


def choose_luma_chroma(threads: int) -> dict:
    """Rule 1: the candidate with the best mean over the camera settings (ties: cheapest)."""
    model, chroma_model = open_model("live-camera", threads), open_model("live-camera", threads)
    frames = {s: noisy_frames(VALIDATION, s) for s in CAMERA}
    means = {}
    for label, way in candidates(chroma_model).items():
        means[label] = round(float(np.mean([mean_psnr(model, way, frames[s]) for s in CAMERA])),
                             3)
        print(f"{label}: {means[label]:.3f}", flush=True)
    best = max(means.values())
    chosen = next(label for label in means if means[label] >= best - TIE_DB)
    return {"means": means, "chosen": chosen}


def way_of(label: str) -> LumaChroma:
    """The filter-only candidate named by `label` (`K=4 r=8 chroma by filter`)."""
    k, r = (int(part.split("=")[1]) for part in label.split()[:2])
    return LumaChroma(k, r)


def ways_by_setting(names: list[str], images: tuple[str, ...], chosen: str, threads: int,
                    which: list[tuple]) -> dict:
    """PSNR per model, way and setting (rgb, opponent and the chosen luma-chroma)."""
    from edgeae.runtime.colour import Opponent, RgbPlanes

    rows: dict = {}
    frames = {s: noisy_frames(images, s) for s in which}
    for name in names:
        model = open_model(name, threads)
        ways = {"rgb": RgbPlanes(), "opponent": Opponent(), "luma-chroma": way_of(chosen)}
        for s in which:
            rows.setdefault(setting_name(s), {})
            for way_name, way in ways.items():
                value = round(mean_psnr(model, way, frames[s]), 2)
                rows[setting_name(s)][f"{name} {way_name}"] = value
        print(name, "done", flush=True)
    for s in which:
        rows[setting_name(s)]["noisy"] = round(float(np.mean(
            [psnr(c, n) for c, n in frames[s]])), 2)
    return rows


def nlm(noisy: np.ndarray, h: int, h_colour: int) -> np.ndarray:
    """OpenCV's colour non-local means at its default windows (7 and 21)."""
    return cv2.fastNlMeansDenoisingColored(noisy, None, h, h_colour, 7, 21)


def nlm_strengths(which: list[tuple]) -> dict:
    """Per setting, the (h, hColor) with the best mean PSNR on the validation photos."""
    chosen = {}
    for s in which:
        frames = noisy_frames(VALIDATION, s)
        scores = {(h, hc): np.mean([psnr(c, nlm(n, h, hc)) for c, n in frames])
                  for h, hc in itertools.product(NLM_H, NLM_H_COLOUR)}
        chosen[setting_name(s)] = max(scores, key=scores.get)
        print("NLM", setting_name(s), chosen[setting_name(s)], flush=True)
    return chosen


def nlm_rows(images: tuple[str, ...], strengths: dict, which: list[tuple]) -> dict:
    """NLM's mean PSNR per setting at the strengths chosen on the validation photos."""
    return {setting_name(s): round(float(np.mean(
        [psnr(c, nlm(n, *strengths[setting_name(s)])) for c, n in noisy_frames(images, s)])),
        2) for s in which}


def frame_times(chosen: str, threads: int, runs: int) -> dict:
    """Milliseconds per 640x480 colour frame, median and p99, per way (OpenVINO, interleaved).

    The first 3 rounds warm up. Each way is `live-camera` int8's through the runtime's model.
    """
    from edgeae.runtime.colour import Opponent, RgbPlanes

    frame = cv2.resize(noisy_frames(("astronaut",), ("dim", None))[0][1], (640, 480))
    ways = {"rgb": RgbPlanes(), "opponent": Opponent(), "luma-chroma": way_of(chosen)}
    # a model each: an OpenVINO session compiles for one input shape at a time
    models = {name: open_model("live-camera", threads, "openvino") for name in ways}
    times: dict[str, list[float]] = {name: [] for name in ways}
    out = np.empty_like(frame)
    for _ in range(runs + 3):
        for name, way in ways.items():
            start = time.perf_counter()
            way.denoise(frame, "bgr", out, models[name].reconstruct)
            times[name].append(1e3 * (time.perf_counter() - start))
    return {name: {"p50_ms": round(float(np.median(t[3:])), 2),
                   "p99_ms": round(float(np.percentile(t[3:], 99)), 2)}
            for name, t in times.items()}


def verdicts(choice: dict, validation: dict) -> dict:
    """Rules 2 and 3 on the validation rows."""
    camera = [setting_name(s) for s in CAMERA]
    gaussian = [setting_name(("gaussian", s)) for s in SIGMAS]
    luma = all(validation[s][f"{m} luma-chroma"] > validation[s][f"{m} rgb"]
               for s in camera for m in ("live-camera", "quality-camera", "live-stream"))
    opponent = all(validation[s][f"{m} opponent"] >= validation[s][f"{m} rgb"] + 0.1
                   for s in gaussian for m in ("live", "quality"))
    return {"luma_chroma": choice["chosen"], "luma_chroma_adopted": luma,
            "opponent_adopted": opponent}


PICTURE_CROP = (slice(40, 232), slice(150, 406))  # of `astronaut` (held out): face and suit
PICTURE_QUALITY = 95


def picture(path: Path, results: Path) -> None:
    """A held-out crop at `dim` through live-camera int8: noisy, NLM, R-G-B, luma-chroma, clean.

    NLM runs at the strengths the results file chose on the validation photos.
    """
    clean, noisy = noisy_frames(("astronaut",), ("dim", None))[0]
    model = open_model("live-camera", 2)
    strengths = json.loads(results.read_text())["nlm_strengths"]["dim"]
    columns = {"noisy": noisy,
               f"colour NLM h={strengths[0]},{strengths[1]}": nlm(noisy, *strengths)}
    for way in ("rgb", "luma-chroma"):
        model.colour_planes = way
        columns[f"live-camera, {way}"] = model.denoise(noisy)
    columns["clean"] = cv2.cvtColor(clean, cv2.COLOR_RGB2BGR)
    tiles = []
    for label, image in columns.items():
        crop = image[PICTURE_CROP]
        if label not in ("clean", "noisy"):
            label += f" {psnr(clean, image):.1f} dB"
        band = np.full((22, crop.shape[1], 3), 255, np.uint8)
        cv2.putText(band, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
        tiles.append(np.vstack([band, crop]))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.hstack(tiles), [cv2.IMWRITE_JPEG_QUALITY, PICTURE_QUALITY])


def main() -> None:
    """Choose, judge on validation, then measure the held-out photos; write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30, help="timed frames per way")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/colour_planes.json"))
    parser.add_argument("--picture", type=Path, help="only draw this picture (docs/colour-planes"
                        ".jpg) from a held-out photo, with NLM at the strengths in --out")
    args = parser.parse_args()
    if args.picture:
        picture(args.picture, args.out)
        return
    run = provenance(" ".join(["python benchmarks/colour_planes.py", *sys.argv[1:]]))
    choice = choose_luma_chroma(args.threads)
    names = list(MODELS)
    validation = ways_by_setting(names, VALIDATION, choice["chosen"], args.threads, settings())
    verdict = verdicts(choice, validation)
    print(verdict, flush=True)
    strengths = nlm_strengths(settings())
    test = ways_by_setting(names, TEST, choice["chosen"], args.threads, settings())
    for name, value in nlm_rows(TEST, strengths, settings()).items():
        test[name]["NLM"] = value
    result = {"provenance": finished(run), "validation_images": VALIDATION,
              "test_images": TEST, "choice": choice, "verdict": verdict,
              "validation": validation, "nlm_strengths": {k: list(v) for k, v in
                                                          strengths.items()},
              "test": test, "times_640x480": frame_times(choice["chosen"], args.threads,
                                                         args.runs)}
    write_result(result, args.out)


if __name__ == "__main__":
    main()
