"""`edgeae generate`: new images from a trained VAE, as a grid (and one file each if asked).

The model is a VAE's model directory (Keras) or its exported decoder (the runtime alone, no
TensorFlow; interpolating between images then needs the encoder exported beside it, as
`encoder_<precision>.<format>`). Samples are decoded in batches with a progress bar; an
interpolation is one row from image A to image B along the spherical path between their codes;
a traversal is one row sweeping one code dimension from -3 to 3. Small images are enlarged
(nearest neighbour) in the grid so it can be looked at; files written with --save-each keep
the model's size.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from edgeae.app.denoise import write_image as save
from edgeae.core.errors import UserError
from edgeae.core.files import atomic_dir, check_writable
from edgeae.core.images import prepare, read_image, tile_grid, to_uint8
from edgeae.core.progress import progress
from edgeae.runtime.generator import BATCH, Encoder, Generator, slerp, traverse_codes

MIN_TILE = 64  # grid tiles are enlarged to at least this many pixels
MAX_SAMPLES = 20_000  # codes and images are held in memory: a 142 x 142 grid at most


class ArtifactVAE:
    """An exported decoder (and the encoder beside it, if any) behind the calls generate makes."""

    def __init__(self, decoder: Path) -> None:
        import edgeae.runtime as rt

        self.generator = rt.load(decoder)
        if not isinstance(self.generator, Generator):
            raise UserError(f"{decoder} is not a VAE decoder; export one with `edgeae export "
                            "VAE_DIR --part decoder`, or pass the model directory")
        self.latent_dim = self.generator.latent_dim
        spec = self.generator.manifest.input
        self.image_shape = (spec.height, spec.width, spec.channels)
        self._beside = decoder.with_name(decoder.name.replace("decoder_", "encoder_", 1))
        self.encoder: Encoder | None = rt.load(self._beside) if self._beside.is_file() else None
        # another VAE's encoder gives codes this decoder never learned
        self._foreign = self.encoder is not None and (
            self.encoder.manifest.artifact.source_model_sha256
            != self.generator.manifest.artifact.source_model_sha256)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Float images in [0, 1] for codes."""
        return self.generator.decode(z)

    def interpolate(self, a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
        """The spherical path between two images' codes, through the exported encoder."""
        if self.encoder is None or self._foreign:
            problem = (f"{self._beside.name} beside the decoder was exported from another model"
                       if self._foreign else "interpolating between images needs the encoder "
                       f"beside the decoder ({self._beside.name})")
            art = self.generator.manifest.artifact
            raise UserError(f"{problem}: edgeae export VAE_DIR --part encoder --format "
                            f"{art.format} --precision {art.precision} --out "
                            f"{self._beside.parent}")
        codes = self.encoder.encode(np.stack([a, b]))
        return self.decode(slerp(codes[0], codes[1], np.linspace(0.0, 1.0, steps)))

    def traverse(self, dim: int, steps: int) -> np.ndarray:
        """One code dimension swept from -3 to 3."""
        return self.decode(traverse_codes(self.latent_dim, dim, steps))


def open_vae(model: Path):
    """A model directory as the Keras VAE, an exported decoder as the runtime's."""
    if model.is_file():
        return ArtifactVAE(model)
    from edgeae.train.generative import VAE

    return VAE.load(model)


def sample_batches(vae, n: int, seed: int | None, temperature: float) -> np.ndarray:
    """`n` samples, drawn batch by batch from one seeded stream, with a progress bar."""
    rng = np.random.default_rng(seed)
    z = temperature * rng.standard_normal((n, vae.latent_dim))
    chunks = range(0, n, BATCH)
    return np.concatenate([vae.decode(z[i:i + BATCH])
                           for i in progress(chunks, total=len(chunks), desc="generating",
                                             unit="batch", min_total=4)])


def read_for(vae, path: Path) -> np.ndarray:
    """An image file in the model's size and channels, float HWC in [0, 1]."""
    h, w, c = vae.image_shape
    return prepare(readable_image(path), c, (h, w))


def readable_image(path: Path) -> np.ndarray:
    """The image in `path` as read_image gives it, or a one-line UserError."""
    img = read_image(path)
    if img is None:
        raise UserError(f"{path} is not a readable image; pass PNG, JPEG, BMP or TIFF files")
    return img


def grid_image(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Images (N, H, W, C) in [0, 1] laid out row by row, enlarged to readable tiles."""
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = [list(images[i:i + columns]) for i in range(0, len(images), columns)]
    grid = tile_grid(rows, pad=1)
    zoom = max(1, MIN_TILE // images.shape[1])
    return cv2.resize(grid, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)


def write_image(path: Path, image: np.ndarray, overwrite: bool) -> None:
    """Write an RGB or gray uint8 image atomically (denoise's writer takes OpenCV's BGR)."""
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    save(path, image, overwrite)


def generate(model_dir: Path, out: Path, n: int = 64, seed: int | None = None,
             temperature: float = 1.0, save_each: Path | None = None,
             interpolate: tuple[Path, Path] | None = None, steps: int = 10,
             traverse: int | None = None, overwrite: bool = False) -> dict:
    """Write the grid (and the single images); return what was made."""
    vae = open_vae(Path(model_dir))
    check_writable(out, overwrite)
    if interpolate is not None:
        images = vae.interpolate(*(read_for(vae, p) for p in interpolate), steps=steps)
        made, columns = f"interpolation of {steps} steps", steps
    elif traverse is not None:
        images = vae.traverse(traverse, steps=steps)
        made, columns = f"traversal of dimension {traverse} in {steps} steps", steps
    else:
        images = sample_batches(vae, n, seed, temperature)
        made, columns = f"{n} samples at temperature {temperature:g}", None
    if save_each is not None:  # the whole set or none (a refusal or Ctrl-C leaves no part)
        with atomic_dir(save_each, overwrite) as folder:
            width = len(str(len(images) - 1))
            for i, img in enumerate(images):
                write_image(folder / f"{i:0{width}d}.png", to_uint8(img), overwrite=False)
    write_image(out, grid_image(images, columns), overwrite)
    return {"made": made, "images": len(images), "grid": str(out),
            "image_size": list(vae.image_shape), "each": str(save_each) if save_each else None}
