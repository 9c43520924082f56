"""`edgeae denoise`: denoise image files and folders with the runtime (no TensorFlow)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeae.app.commands.args import (
    add_archive_args,
    add_backend_args,
    add_colour_planes_arg,
    add_model_args,
    add_strict_arg,
    check_resume_or_overwrite,
    examples,
    model_path,
    output_dir,
    paired_model_paths,
    ranged,
    require,
    resolve_backend,
    runs_keras,
)
from edgeae.core.files import refuse_folder_inside_inputs


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`denoise INPUT... --model M|--pretrained NAME --out DIR`."""
    from edgeae.runtime.tiles import TILE_PIXELS

    p = subparsers.add_parser(
        "denoise", help="denoise images, folders and videos (runtime only, no TensorFlow)",
        description=(
            "Denoise images with an exported model or a shipped pretrained one. Each output\n"
            "keeps its input's format, size, bit depth (8- or 16-bit PNG/TIFF) and alpha;\n"
            "EXIF orientation is applied. A file goes to OUT/NAME, a folder to OUT/FOLDER/...\n"
            "Gray models denoise colour images in the planes that suit the noise they\n"
            "learned (--colour-planes; a gray image stored as colour once); large photos\n"
            "run in tiles that give the whole photo's result in bounded memory. A video\n"
            "file is denoised as video, frame after frame (a temporal model such as\n"
            "live-video uses the frames before), into OUT/NAME, which appears only once the\n"
            "whole video is done; give videos by name (a folder's are not denoised). An image\n"
            "is always a still."),
        epilog=examples("edgeae denoise --pretrained quality photo.png --out clean/",
                        "edgeae denoise --model export/model_int8.tflite scans/ --out clean/",
                        "edgeae denoise --pretrained live --precision fp32 a.tif b.png "
                        "--out clean/ --overwrite",
                        "edgeae denoise --pretrained live archive/ --out clean/ --workers 2 "
                        "--resume",
                        "edgeae denoise --pretrained live-video clip.mp4 --out clean/",
                        "edgeae denoise --pretrained quality --tile-megapixels 1 photos/ "
                        "--out clean/   # a device with little memory",
                        "edgeae denoise --pretrained quality-auto photos/ --out clean/   "
                        "# white or camera noise: the model chosen per photo",
                        "edgeae denoise --pretrained live-camera --colour-planes rgb "
                        "photo.jpg --out clean/   # each colour plane alone"))
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="image files, folders or video files")
    add_model_args(p, directories=True)
    p.add_argument("--out", type=output_dir, required=True,
                   help="folder for the denoised images and videos")
    add_backend_args(p)
    p.add_argument("--tile-megapixels", type=ranged(float, 0.01, 1000), metavar="MP",
                   help=f"the most pixels one model call takes, over a photo's colour planes "
                        f"(default {TILE_PIXELS / 1e6:.1f}); larger photos run in overlapping "
                        "tiles with the same result, at least 4x the model's reach on a side. "
                        "Lower it where memory is short: a 12-megapixel colour photo through "
                        "quality peaks at 5.7 GB by default and 1.4 GB at 1 with LiteRT (2.6 "
                        "and 0.8 GB with OpenVINO; live with OpenVINO: 0.47 and 0.37 GB)")
    add_colour_planes_arg(p)
    add_archive_args(p, "denoise", "each output keeps its input's name",
                     "skip images whose output exists (continue an interrupted run)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_strict_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Denoise every input image and video into --out; print how many."""
    from edgeae.app.denoise import (
        denoise_files,
        denoise_videos,
        plan_jobs,
        plan_videos,
        split_videos,
    )
    from edgeae.app.workers import ModelSpec

    check_resume_or_overwrite(args)
    if args.model is not None:  # a model directory runs on Keras: a traceback where none was
        require("denoise", *runs_keras(args.model))
    refuse_folder_inside_inputs(args.out, "--out", [("input", path) for path in args.inputs])
    videos, images = split_videos(args.inputs)
    jobs = plan_jobs(images, args.out, args.overwrite, args.resume) if images else []
    video_jobs = plan_videos(videos, args.out, args.overwrite, args.strict, args.resume)
    _remove_what_a_killed_run_left([job.target for job in (*jobs, *video_jobs)])
    model = resolve_backend(args, model_path(args))  # photos differ: timed at 640x480
    _warn_about_the_model(model)
    tile_pixels = round(args.tile_megapixels * 1e6) if args.tile_megapixels else None
    spec = ModelSpec(model, args.backend, args.threads, tile_pixels=tile_pixels,
                     colour_planes=args.colour_planes, pair=paired_model_paths(args))
    frames = denoise_videos(spec, video_jobs, args.overwrite) if video_jobs else 0
    count = denoise_files(spec, jobs, args.overwrite, args.workers, args.strict,
                          args.resume) if jobs else 0
    done = [f"{count} image{'s' if count != 1 else ''}"] if images else []
    done += [f"{len(video_jobs)} video{'s' if len(video_jobs) != 1 else ''} ({frames} frames)"
             ] if videos else []
    print(f"denoised {' and '.join(done)} -> {args.out}")
    return 0


def _remove_what_a_killed_run_left(targets: list[Path]) -> None:
    """Delete the temporary files of these outputs that a killed run (SIGKILL) left behind."""
    import logging

    from edgeae.core.files import remove_stale_temporaries

    removed = remove_stale_temporaries(targets)
    if removed:
        logging.getLogger(__name__).info("removed %d temporary file(s) an interrupted run left",
                                         removed)


def _warn_about_the_model(model: Path) -> None:
    """One warning where the model learned no noise: it will only redraw each image its way.

    And one where it takes one fixed size: larger images then run in blended tiles, whose
    borders see less of the image (faint seams), not the whole image's result. A VAE's half
    is refused here, before a warning about its outputs.
    """
    import logging

    from edgeae.core.errors import UserError
    from edgeae.runtime.artifact import read_manifest

    manifest = read_manifest(model)
    task, fixed = manifest.task, manifest.input.fixed_size
    # refused by the runtime: no warning about outputs that will not come
    if (part := manifest.part) != "model":
        raise UserError(f"{model.name} is a VAE {part}; it cannot denoise: give a denoiser "
                        "(or a whole model's artifact)")
    if fixed:
        logging.getLogger(__name__).warning(
            "%s takes %dx%d images only: larger ones run in overlapping tiles blended together, "
            "which can leave faint seams; a model exported without --input-size denoises any "
            "size whole", model, *fixed)
    if task != "denoiser":
        logging.getLogger(__name__).warning(
            "%s is %s %s, not a denoiser: it learned to reconstruct its training images, not "
            "to remove noise, so the outputs are its reconstructions of the inputs", model,
            "an" if task[0] in "aeiou" else "a", task)
