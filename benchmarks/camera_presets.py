"""The camera noise presets, shown and measured: docs/camera-noise.jpg and a results file.

Two of scikit-image's sample photographs (`astronaut` in colour, `camera` in gray; bundled, no
download), a 128x128 crop of each, through `camera:LEVEL` for every light level, without and
with JPEG at quality 85 (train/camera.py, seed 0). The picture has one column per setting; the
JSON gives each setting's PSNR against the clean crop and the same for Set12 when `--data` is
given (gray, the images at full size).

    .venv/bin/python benchmarks/camera_presets.py --data ../shared/data \
        --image docs/camera-noise.jpg --out benchmarks/results/camera_presets.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from provenance import finished, provenance, write_result
from skimage import data

from edgeae.train.camera import PRESETS, CameraNoise

JPEG = (85.0, 85.0)
CROPS = {"astronaut": (slice(20, 148), slice(170, 298)),
         "camera": (slice(60, 188), slice(200, 328))}
PICTURE_QUALITY = 95  # the picture is a JPEG (a PNG of noise is 1 MB); compare columns, not pixels


def settings() -> dict[str, CameraNoise | None]:
    """Column label -> camera (None: the clean image)."""
    found: dict[str, CameraNoise | None] = {"clean": None}
    for jpeg in (None, JPEG):
        for level, (peak, read) in PRESETS.items():
            label = level + (f", JPEG {JPEG[0]:g}" if jpeg else "")
            found[label] = CameraNoise((peak, peak), (read, read), jpeg)
    return found


def crops() -> dict[str, np.ndarray]:
    """The two sample crops as float HxWxC in [0, 1] (RGB and gray)."""
    colour = data.astronaut()[CROPS["astronaut"]].astype(np.float32) / 255
    gray = data.camera()[CROPS["camera"]][..., None].astype(np.float32) / 255
    return {"astronaut": colour, "camera": gray}


def psnr(clean: np.ndarray, noisy: np.ndarray) -> float:
    """PSNR in dB of images in [0, 1]."""
    return float(10 * np.log10(1.0 / np.mean((clean - noisy) ** 2)))


def labelled(image: np.ndarray, text: str) -> np.ndarray:
    """An 8-bit BGR tile with `text` on a white band above it."""
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    tile = cv2.cvtColor(np.rint(rgb * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    band = np.full((22, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([band, tile])


def set12_psnr(folder: Path, camera: CameraNoise) -> float:
    """Mean PSNR of Set12 (gray) through `camera`."""
    rng = np.random.default_rng(0)
    values = [psnr(clean, camera.one(clean, rng)) for clean in
              (cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)[..., None].astype(np.float32) / 255
               for p in sorted(folder.glob("*.png")))]
    return round(float(np.mean(values)), 2)


def main() -> None:
    """Draw the presets, measure them; print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="../shared/data (adds Set12's PSNR)")
    parser.add_argument("--image", type=Path, default=Path("docs/camera-noise.jpg"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/camera_presets.json"))
    args = parser.parse_args()
    rows, grid = [], []
    for name, clean in crops().items():
        tiles = []
        for label, camera in settings().items():
            noisy = clean if camera is None else camera.one(clean, np.random.default_rng(0))
            tiles.append(labelled(noisy, label))
            if camera is not None:
                rows.append({"image": name, "setting": label,
                             "psnr_db": round(psnr(clean, noisy), 2)})
        grid.append(np.hstack(tiles))
    if args.data:
        rows += [{"image": "set12 (mean)", "setting": label,
                  "psnr_db": set12_psnr(args.data / "set12", camera)}
                 for label, camera in settings().items() if camera is not None]
    args.image.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.image), np.vstack(grid), [cv2.IMWRITE_JPEG_QUALITY, PICTURE_QUALITY])
    command = " ".join(["python benchmarks/camera_presets.py", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "presets": PRESETS,
                  "rows": rows}, args.out)


if __name__ == "__main__":
    main()
