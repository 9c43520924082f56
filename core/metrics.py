"""Quality metrics: detection (image and pixel level), video, and image content without a reference.

Detection and video metrics come from scikit-learn and scikit-image; the content measure judges a
denoiser's output where no clean image exists (`edgeae adapt`'s keep-test).

Labels are 1 for anomalies and 0 for normal images; masks are non-zero on defect pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PRO_MAX_FPR = 0.3  # PRO is integrated up to this false-positive rate (MVTec AD's convention)
PRO_STEPS = 200
# defect regions by their share of the image's pixels, for pixel metrics per size
DEFECT_SIZES = {"small (up to 1%)": 0.01, "medium (1-5%)": 0.05, "large (over 5%)": 1.0}
# Zhu and Milanfar's content measure Q: blocks of CONTENT_BLOCK px; a block is anisotropic (has
# an edge or a texture's direction) when its coherence exceeds what pure white noise reaches
# with probability CONTENT_ALPHA
CONTENT_BLOCK, CONTENT_ALPHA = 8, 0.001


def detection_metrics(scores: np.ndarray, labels: np.ndarray,
                      threshold: float | None) -> dict:
    """Image-level metrics: AUROC and AUPR over all thresholds, the rest at `threshold`.

    At the threshold ("score > threshold" is an anomaly): accuracy, precision, recall, F1 and
    the confusion matrix [[TN, FP], [FN, TP]]. AUROC and AUPR are None, with a note saying
    why, when the set holds only one class.
    """
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(int)
    result: dict = {"n": len(labels), "n_anomalous": int(labels.sum()), "threshold": threshold,
                    "auroc": None, "aupr": None}
    if len(np.unique(labels)) == 2:
        result["auroc"] = float(roc_auc_score(labels, scores))
        result["aupr"] = float(average_precision_score(labels, scores))
    else:
        only = "anomalous" if labels.all() else "normal"
        result["note"] = (f"AUROC and AUPR need both normal and anomalous images; this set has "
                          f"only {only} ones")
    if threshold is not None:
        predicted = (scores > threshold).astype(int)
        result.update(
            accuracy=float(accuracy_score(labels, predicted)),
            precision=float(precision_score(labels, predicted, zero_division=0)),
            recall=float(recall_score(labels, predicted, zero_division=0)),
            f1=float(f1_score(labels, predicted, zero_division=0)),
            confusion_matrix=confusion_matrix(labels, predicted, labels=[0, 1]).tolist())
    return result


def pixel_metrics(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> dict:
    """Pixel AUROC and PRO of per-image (H, W) anomaly maps against masks of the same shapes."""
    from sklearn.metrics import roc_auc_score

    truth = [np.asarray(m) > 0 for m in masks]
    if any(t.shape != m.shape for t, m in zip(truth, maps)):
        raise ValueError("every mask must have its map's shape")
    flat_truth = np.concatenate([t.ravel() for t in truth])
    flat_maps = np.concatenate([np.asarray(m, np.float64).ravel() for m in maps])
    if flat_truth.all() or not flat_truth.any():
        return {"pixel_auroc": None, "pro": None,
                "note": "pixel metrics need both defect and normal pixels in the masks"}
    regions, fractions = _regions(truth)
    return {"pixel_auroc": float(roc_auc_score(flat_truth, flat_maps)),
            "pro": per_region_overlap(flat_maps, flat_truth, regions),
            "by_defect_size": _by_size(flat_maps, flat_truth, regions, fractions)}


def _regions(truth: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """(flat indices of every connected defect region, each region's share of its image).

    The indices are into all images' pixels, concatenated.
    """
    from skimage.measure import label

    regions, fractions, offset = [], [], 0
    for t in truth:
        labelled = label(t).ravel()
        for k in range(1, labelled.max() + 1):
            regions.append(np.flatnonzero(labelled == k) + offset)
            fractions.append(len(regions[-1]) / t.size)
        offset += t.size
    return regions, np.array(fractions)


def _by_size(flat_maps: np.ndarray, flat_truth: np.ndarray, regions: list[np.ndarray],
             fractions: np.ndarray) -> dict:
    """Pixel AUROC and PRO per DEFECT_SIZES bucket: are small defects found like large ones?

    A bucket's pixel AUROC ranks its defect pixels against every normal pixel.
    """
    from sklearn.metrics import roc_auc_score

    normal = np.flatnonzero(~flat_truth)
    out, lower = {}, 0.0
    for name, upper in DEFECT_SIZES.items():
        members = [r for r, f in zip(regions, fractions) if lower < f <= upper]
        lower = upper
        if not members:
            continue
        defect = np.concatenate(members)
        labels = np.r_[np.ones(len(defect)), np.zeros(len(normal))]
        out[name] = {"regions": len(members),
                     "pixel_auroc": float(roc_auc_score(labels, flat_maps[np.r_[defect, normal]])),
                     "pro": per_region_overlap(flat_maps, flat_truth, members)}
    return out


def per_region_overlap(scores: np.ndarray, truth: np.ndarray, regions: list[np.ndarray],
                       max_fpr: float = PRO_MAX_FPR, steps: int = PRO_STEPS) -> float:
    """Area under the PRO curve up to `max_fpr`, divided by `max_fpr` (1.0 is perfect).

    Each connected defect region counts equally, however small, so small defects matter as
    much as large ones; the false-positive rate is over the normal pixels.
    """
    from sklearn.metrics import auc

    normal = ~truth
    fprs, pros = [], []
    for cut in np.linspace(scores.max(), scores.min(), steps):
        flagged = scores >= cut
        fprs.append(flagged[normal].mean())
        pros.append(np.mean([flagged[r].mean() for r in regions]))
    fprs, pros = np.array(fprs), np.array(pros)
    keep = fprs <= max_fpr
    x = np.append(fprs[keep], max_fpr)
    y = np.append(pros[keep], np.interp(max_fpr, fprs, pros))
    return float(auc(x, y) / max_fpr)


def video_metrics(outputs: np.ndarray, clean: np.ndarray, moving: np.ndarray | None = None,
                  data_range: float = 255.0) -> dict:
    """Quality of a denoised clip (N, H, W) against its clean frames, as video.

    - psnr, ssim: the mean over frames (scikit-image);
    - flicker: the mean absolute difference between the output's change from one frame to the
      next and the clean video's (in pixel units): 0 when the output moves exactly as the
      scene does, higher when it shimmers where the scene is still or lags where it moves;
    - moving_psnr: PSNR over the pixels objects moving on their own cover (`moving`, N x H x W
      bool, e.g. train/clips.py's), where a temporal method would ghost; None without any.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    out, ref = outputs.astype(np.float64), clean.astype(np.float64)
    psnr = [peak_signal_noise_ratio(r, o, data_range=data_range) for r, o in zip(ref, out)]
    ssim = [structural_similarity(r, o, data_range=data_range) for r, o in zip(ref, out)]
    flicker = float(np.abs(np.diff(out, axis=0) - np.diff(ref, axis=0)).mean())
    moving_psnr = None
    if moving is not None and moving.any():
        mse = float(((out - ref)[moving] ** 2).mean())
        moving_psnr = float(10 * np.log10(data_range ** 2 / max(mse, 1e-12)))
    return {"psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim)), "flicker": flicker,
            "moving_psnr": moving_psnr}


def coherence_threshold(block: int = CONTENT_BLOCK, alpha: float = CONTENT_ALPHA) -> float:
    """The coherence white noise exceeds in a block x block tile with probability `alpha`.

    Zhu and Milanfar (2010): the coherence R of n = block^2 i.i.d. Gaussian gradients
    has P(R > r) = (1 - r^2)^(n - 1), so the threshold is sqrt(1 - alpha^(1 / (n - 1))).
    """
    return float(np.sqrt(1.0 - alpha ** (1.0 / (block * block - 1))))


def content_blocks(image: np.ndarray, block: int = CONTENT_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """(Q, coherence R) of each whole block x block tile of a 2-D image.

    The tile's gradients (central differences) form a matrix G of n rows and 2 columns; with its
    singular values s1 >= s2, R = (s1 - s2) / (s1 + s2) and Q = s1 * R (X. Zhu and P. Milanfar,
    "Automatic parameter selection for denoising algorithms using a no-reference measure of
    image content", IEEE Trans. Image Processing 19(12), 2010). Q grows with a tile's sharpness
    and falls with its noise: blur lowers s1, noise raises s2.
    """
    grad_y, grad_x = np.gradient(np.asarray(image, np.float64))
    h, w = (image.shape[0] // block) * block, (image.shape[1] // block) * block

    def tile_sums(a: np.ndarray) -> np.ndarray:
        return a[:h, :w].reshape(h // block, block, w // block, block).sum(axis=(1, 3))

    xx, yy, xy = tile_sums(grad_x * grad_x), tile_sums(grad_y * grad_y), tile_sums(grad_x * grad_y)
    spread = np.sqrt((xx - yy) ** 2 / 4 + xy * xy)
    s1 = np.sqrt((xx + yy) / 2 + spread)
    s2 = np.sqrt(np.maximum((xx + yy) / 2 - spread, 0.0))
    coherence = (s1 - s2) / np.maximum(s1 + s2, 1e-12)
    return s1 * coherence, coherence


def paired_content(first: Sequence[np.ndarray],
                   second: Sequence[np.ndarray]) -> tuple[float, float]:
    """Q of two denoisers' outputs for the same frames, on the same anisotropic tiles.

    A tile counts when it is anisotropic (coherence above `coherence_threshold`) in either
    output, so neither is judged only where it happens to look sharp. Each output is 2-D or
    HxWxC (its channels averaged); the result is each denoiser's mean over frames of its mean Q
    on the tiles counted (frames with none are left out; NaN if no frame has any).
    """
    threshold, scores = coherence_threshold(), ([], [])
    for a, b in zip(first, second, strict=True):
        (qa, ra), (qb, rb) = (content_blocks(_plane(x)) for x in (a, b))
        counted = (ra > threshold) | (rb > threshold)
        if counted.any():
            scores[0].append(qa[counted].mean())
            scores[1].append(qb[counted].mean())
    return (float(np.mean(scores[0])), float(np.mean(scores[1]))) if scores[0] else (np.nan,) * 2


def _plane(image: np.ndarray) -> np.ndarray:
    """A 2-D plane of an image: itself, or its channels' mean."""
    return image if image.ndim == 2 else np.asarray(image, np.float64).mean(axis=-1)
