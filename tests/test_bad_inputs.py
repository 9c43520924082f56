"""Bad input to every command: exit 2, one line on stderr, no traceback, before any slow work.

Each case runs the real entry point (`python -m edgeae`) in a fresh process: in a device
environment (.venv-runtime, a few in .venv-tflite: no TensorFlow, Keras or scikit-learn) where
the command runs there or must say which extra it needs, else in the training environment
with a TensorFlow that cannot be imported, so a case that loaded TensorFlow before answering
fails loudly instead of merely taking seconds. Input classes: missing, empty, corrupt,
truncated, foreign (a file of another kind), swapped (an argument given where another
belongs), non-finite, out of range, wrong output suffix, and a missing extra. A detector's
memory and stale manifests are test_integrity.py's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeae.runtime.pretrained import PRETRAINED_DIR

from conftest import REPO, blobs, run_cli, write_folder, write_video

# the device environments `make install` creates, and whether CI must have each (tflite-runtime
# has wheels for Python <= 3.11 only): LiteRT with OpenCV 5, tflite-runtime with OpenCV 4
DEVICE_VENVS = {"device": (REPO / ".venv-runtime", True),
                "tflite": (REPO / ".venv-tflite", sys.version_info < (3, 12))}
ANSWER_S = 20.0  # generous: a busy 2-core machine; TensorFlow is kept out by the poison below
INSTALL_TRAIN = 'pip install "edgeae[train]"'

# (environment, command line, fragment of the one-line error); {t}: the bad inputs' folder,
# {m}: a trained model directory (conv autoencoder), {p}: a shipped pretrained ONNX file
CASES = {
    # train: the data is read before TensorFlow is imported
    "train-missing-data": ("train", "train autoencoder --data {t}/missing --out {t}/o",
                           "no such file or directory"),
    "train-one-image": ("train", "train autoencoder --data {t}/tiny --out {t}/o",
                        "need at least 2 images to train on 1 and hold one out for validation, "
                        "got 1: give more, let --patch-size N"),
    "train-series-image-size": ("train", "train autoencoder --data {t}/rows.csv --image-size "
                                "4x16 --out {t}/o", "--image-size shape images; "),
    "train-crops-without-a-size": ("train", "train autoencoder --data {t}/images "
                                   "--patches-per-image 8 --out {t}/o", "add --patch-size"),
    "train-cache-inside-out": ("train", "train autoencoder --data {t}/images --cache "
                               "{t}/o/cache --out {t}/o", "is inside --out"),
    "train-empty-folder": ("train", "train autoencoder --data {t}/empty --out {t}/o",
                           "no images found"),
    "train-corrupt-strict": ("train", "train autoencoder --data {t}/corrupt --strict --out {t}/o",
                             "not a readable image"),
    "train-all-corrupt": ("train", "train denoiser --data {t}/corrupt/a.png --out {t}/o",
                          "could be used: "),  # and why: the first file's reason
    "train-non-finite": ("train", "train autoencoder --data {t}/inf.npy --out {t}/o",
                         "NaN or inf"),
    "train-one-colour-image-as-npy": ("train", "train autoencoder --data {t}/one_rgb.npy --out "
                                      "{t}/o", "one 3-channel image, not 16 images 3 pixels"),
    "train-pickled-npy": ("train", "train autoencoder --data {t}/pickled.npy --out {t}/o",
                          "pickled.npy"),
    "train-swapped-model-as-data": ("train", "train autoencoder --data {p} --out {t}/o",
                                    "cannot read"),
    "train-data-dir-without-a-built-in": ("train", "train autoencoder --data {t}/images "
                                          "--data-dir {t}/empty --out {t}/o",
                                          "--data-dir is where built-in datasets"),
    "train-missing-weights": ("train", "train autoencoder --data {t}/images --out {t}/o "
                              "--initial-weights {t}/missing.weights.h5", "no such file"),
    "train-foreign-weights": ("train", "train autoencoder --data {t}/images --out {t}/o "
                              "--initial-weights {t}/inf.npy", "expected Keras weights"),
    "train-weights-folder": ("train", "train autoencoder --data {t}/images --out {t}/o "
                             "--initial-weights {t}/images", "is a folder; give a file in it"),
    "train-every-on-a-folder": ("train", "train autoencoder --data {t}/images --every 5 --out "
                                "{t}/o", "--every 5 keeps every K-th frame of a video"),
    "train-out-of-range": ("train", "train detector --data {t}/images --out {t}/o "
                           "--val-split 0", "--val-split"),
    "train-empty-noise": ("train", "train denoiser --data {t}/images --out {t}/o --noise=",
                          "--noise is empty"),
    "train-mixed-sizes": ("train", "train autoencoder --data {t}/mixed --out {t}/o",
                          "have different sizes"),
    "train-off-the-models-grid": ("train", "train autoencoder --data {t}/images --image-size 18 "
                                  "--out {t}/o", "multiples of 4, got 18x18"),
    "train-truncated-jpeg-strict": ("train", "train autoencoder --data {t}/cut --strict --out "
                                    "{t}/o", "a JPEG cut short"),
    "train-negative-fixed-threshold": ("train", "train detector --data {t}/images --out {t}/o "
                                       "--threshold fixed:-1 --score-knn 0",
                                       "every frame would be an anomaly"),
    "train-vae-quantization-aware": ("train", "train vae --data {t}/images --out {t}/o "
                                     "--quantization-aware", "does not train VAEs yet"),
    "train-zero-noise": ("train", "train denoiser --data {t}/images --out {t}/o --noise "
                         "gaussian:0+clip", "adds no noise"),
    "train-bad-noise": ("train", "train denoiser --data {t}/images --out {t}/o "
                        "--noise camera:dusk", "unknown light level"),
    "train-no-keras": ("device", "train autoencoder --data {t}/images --out {t}/o",
                       INSTALL_TRAIN),
    # export
    "export-missing": ("train", "export {t}/missing --out {t}/e", "no such model directory"),
    "export-empty-folder": ("train", "export {t}/empty --out {t}/e", "no manifest.json"),
    "export-swapped-file": ("train", "export {p} --out {t}/e", "needs --calibration DATA"),
    "export-missing-calibration": ("train", "export {m} --calibration {t}/missing --out {t}/e",
                                   "--calibration"),
    "export-from-a-conv-onnx-file": ("train", "export {t}/conv/model_fp32.onnx --calibration "
                                     "{t}/images --out {t}/e", "only unet models"),
    "export-artifact-one-calibration-image": ("train", "export {p} --calibration "
                                              "{t}/images/img_000.png --out {t}/e",
                                              "holds 1 image; exporting from live_fp32.onnx"),
    "export-corrupt-calibration": ("train", "export {m} --calibration {t}/corrupt --out {t}/e",
                                   "could be used: "),
    "export-unlabelled-parity-set": ("train", "export {m} --labelled {t}/images --out {t}/e",
                                     "needs sub-folders"),
    # refused after the Keras model had loaded (5.5 s)
    "export-part-of-no-vae": ("train", "export {m} --part decoder --out {t}/e",
                              "--part decoder exports part of a VAE"),
    # refused after TensorFlow had loaded (7-9 s)
    "train-mask-maps-without-draem": ("train", "train detector --data {t}/images --score-maps "
                                      "mask --out {t}/o", "needs a model that predicts one"),
    "export-out-of-range": ("train", "export {m} --opset 5 --out {t}/e", "--opset"),
    # tf2onnx 1.17 converts up to 18: 19-21 failed after TensorFlow loaded
    "export-opset-beyond-tf2onnx": ("train", "export {m} --opset 19 --out {t}/e", "<= 18, got 19"),
    "export-no-keras": ("device", "export {m} --out {t}/e", INSTALL_TRAIN),
    # pnnx's wheel declares PyTorch, which its converter binary never uses
    "export-ncnn-no-pnnx": ("device", "export {m} --format ncnn --out {t}/e",
                            INSTALL_TRAIN + " && pip install --no-deps pnnx"),
    # reconstruct
    "reconstruct-backend-on-a-model-dir": ("train", "reconstruct --model {m} --backend "
                                           "onnxruntime --data {t}/images --out {t}/r",
                                           "--backend onnxruntime runs exported files"),
    "reconstruct-missing-model": ("device", "reconstruct --model {t}/missing.tflite --data "
                                  "{t}/images --out {t}/r", "no such model file"),
    "reconstruct-missing-data": ("device", "reconstruct --model {p} --data {t}/missing "
                                 "--out {t}/r", "no such file or directory"),
    "reconstruct-empty-model": ("device", "reconstruct --model {t}/empty.tflite --data "
                                "{t}/images --out {t}/r", "empty.tflite"),
    "reconstruct-foreign-model": ("device", "reconstruct --model {t}/photo.tflite --data "
                                  "{t}/images --out {t}/r", "photo.tflite"),
    "reconstruct-truncated-model": ("device", "reconstruct --model {t}/truncated.onnx --data "
                                    "{t}/images --out {t}/r", "truncated.onnx"),
    "reconstruct-out-of-range": ("device", "reconstruct --model {p} --data {t}/images --limit 0 "
                                 "--out {t}/r", "--limit"),
    "reconstruct-empty-data-keras": ("train", "reconstruct --model {m} --data {t}/empty --out "
                                     "{t}/r", "no images"),
    "reconstruct-corrupt-data-keras": ("train", "reconstruct --model {m} --data "
                                       "{t}/truncated.png --strict --out {t}/r",
                                       "not a readable image"),
    "backend-named-not-installed": ("tflite", "reconstruct --model {p} --data {t}/images "
                                    "--backend openvino --out {t}/r",
                                    "backend 'openvino' is not installed: pip install "
                                    "'edgeae[openvino]' (or use onnxruntime, installed)"),
    "run-keras-file": ("device", "run --model {m}/model.keras --source {t}/images",
                       "is a Keras model, not an exported file"),  # not "pip install [train]"
    "denoise-no-keras": ("device", "denoise {t}/images --model {m} --out {t}/d", INSTALL_TRAIN),
    "reconstruct-no-keras": ("device", "reconstruct --model {m} --data {t}/images --out {t}/r",
                             INSTALL_TRAIN),
    # score
    "score-wrong-suffix": ("device", "score --model {p} --data {t}/images --out {t}/s.png",
                           ".csv"),
    "score-missing-data": ("device", "score --model {p} --data {t}/missing --out {t}/s.csv",
                           "no such file"),
    "score-empty-data": ("device", "score --model {p} --data {t}/empty --out {t}/s.csv",
                         "no images"),
    "score-foreign-model": ("device", "score --model {t}/notes.onnx --data {t}/images --out "
                            "{t}/s.csv", "notes.onnx"),
    "score-non-finite": ("device", "score --model {p} --data {t}/inf.npy --out {t}/s.csv",
                         "NaN or inf"),
    "reconstruct-non-finite": ("device", "reconstruct --model {p} --data {t}/inf.npy --out {t}/r",
                               "NaN or inf"),
    "score-digits-without-sklearn": ("device", "score --model {p} --data digits --out "
                                     "{t}/s.csv", "needs scikit-learn"),
    "score-out-of-range": ("device", "score --model {p} --data {t}/images --workers 0 --out "
                           "{t}/s.csv", "--workers"),
    "score-non-finite-threshold": ("device", "score --model {p} --data {t}/images --threshold "
                                   "nan --out {t}/s.csv", "--threshold"),
    "score-negative-threshold": ("device", "score --model {p} --data {t}/images --threshold -1 "
                                 "--out {t}/s.csv", "below 0, where this model's scores never"),
    # evaluate
    "evaluate-empty-data-keras": ("train", "evaluate --model {m} --data {t}/empty", "no images"),
    "evaluate-no-sklearn": ("device", "evaluate --model {p} --data {t}/images", INSTALL_TRAIN),
    "evaluate-missing-labels": ("train", "evaluate --model {p} --data {t}/images --labels "
                                "{t}/missing.csv", "--labels"),
    "evaluate-binary-labels": ("train", "evaluate --model {p} --data {t}/images --labels "
                               "{t}/images/img_000.png", "not a readable CSV"),
    "evaluate-wrong-suffix": ("train", "evaluate --model {p} --data {t}/images --out {t}/m.txt",
                              ".json"),
    # threshold
    "threshold-missing": ("device", "threshold {t}/missing.onnx --strategy fixed:1",
                          "no such model file"),
    "threshold-out-of-range": ("device", "threshold {p} --strategy percentile:101",
                               "percentile"),
    "threshold-non-finite": ("device", "threshold {p} --strategy fixed:nan", "fixed:nan"),
    "threshold-negative": ("device", "threshold {p} --strategy fixed:-1", "every frame would"),
    "threshold-best-f1-no-data": ("device", "threshold {p} --strategy best-f1", "--data"),
    # accepted, missing paths and all, by a strategy that reads no images
    "threshold-data-unread": ("device", "threshold {p} --strategy percentile:99 --data "
                              "{t}/nothing --labels {t}/none.csv", "--data and --labels: "),
    # found after every image had been scored, as 'no mask marks a defect'
    "evaluate-masks-not-a-folder": ("train", "evaluate --model {m} --data {t}/images --masks "
                                    "{t}/rows.csv", "is not a folder"),
    "threshold-best-f1-missing-data": ("device", "threshold {p} --strategy best-f1 --data "
                                       "{t}/missing", "no such file"),
    # run (the camera loop)
    "run-missing-model": ("device", "run --model {t}/missing.tflite --source {t}/images "
                          "--output {t}/o", "missing.tflite"),
    "run-folder-as-model": ("device", "run --model {t}/images --source {t}/images",
                            "is a folder, not a model file"),
    "run-corrupt-video": ("device", "run --model {p} --source {t}/notes.mp4",
                          "cannot open video file"),
    "run-video-of-1x1-frames": ("device", "run --model {p} --source {t}/tiny --output "
                                "{t}/tiny.mp4", "wrote nothing for 1x1 frames; try .avi"),
    "run-missing-source": ("device", "run --model {p} --source {t}/missing --output {t}/o",
                           "no such source"),
    # denoise
    "denoise-missing-input": ("device", "denoise {t}/missing --pretrained live --out {t}/d",
                              "no such file or folder"),
    "denoise-out-inside-input": ("device", "denoise {t}/images --pretrained live --out "
                                 "{t}/images/clean", "is inside input"),
    "score-maps-inside-data": ("device", "score --model {p} --data {t}/images --out {t}/s.csv "
                               "--maps {t}/images/maps", "is inside --data"),
    "denoise-empty-folder": ("device", "denoise {t}/empty --pretrained live --out {t}/d",
                             "no images"),
    "denoise-swapped-model-as-input": ("device", "denoise {p} --pretrained live --out {t}/d",
                                       "is not an image"),
    "denoise-all-corrupt": ("device", "denoise {t}/corrupt --pretrained live --out {t}/d",
                            "none of the 2 images could be denoised (cannot read"),
    "denoise-corrupt-strict": ("device", "denoise {t}/truncated.png {t}/images --pretrained "
                               "live --strict --out {t}/d", "truncated.png"),
    # OpenCV 5's libpng printed its own "PNG input buffer is incomplete" line first
    "denoise-png-cut-short": ("train", "denoise {t}/truncated.png --pretrained live --out {t}/d",
                              "truncated.png as an image"),
    "denoise-foreign-model": ("device", "denoise {t}/images --model {t}/photo.tflite --out "
                              "{t}/d", "photo.tflite"),
    "denoise-precision-of-a-named-file": ("device", "denoise {t}/images --model {p} "
                                          "--precision int8 --out {t}/d", "--precision picks"),
    "denoise-out-of-range": ("device", "denoise {t}/images --pretrained live --workers 0 --out "
                             "{t}/d", "--workers"),
    # benchmark: every path before exporting anything
    "benchmark-missing-python": ("train", "benchmark {m} --python {t}/missing/python --out "
                                 "{t}/b", "no such executable"),
    "benchmark-missing-data": ("train", "benchmark {m} --data {t}/missing --out {t}/b",
                               "no such file or directory"),
    "benchmark-corrupt-data": ("train", "benchmark {m} --data {t}/corrupt --out {t}/b",
                               "could be used: "),
    "benchmark-missing-model": ("train", "benchmark {t}/missing --out {t}/b",
                                "no such model directory"),
    "benchmark-bad-noise": ("train", "benchmark {m} --noise bogus --out {t}/b", "bogus"),
    "benchmark-out-of-range": ("train", "benchmark {m} --repeats 0 --out {t}/b", "--repeats"),
    "benchmark-no-extra": ("device", "benchmark {m} --out {t}/b", INSTALL_TRAIN),
    # generate
    "generate-wrong-suffix": ("device", "generate --model {p} --out {t}/g.txt", ".png"),
    "generate-out-of-range": ("device", "generate --model {p} -n 100000000 --out {t}/g.png",
                              "-n"),
    "generate-missing-model": ("device", "generate --model {t}/missing --out {t}/g.png",
                               "no such model"),
    "generate-non-finite": ("device", "generate --model {p} --temperature nan --out {t}/g.png",
                            "--temperature"),
    "generate-missing-image": ("device", "generate --model {p} --interpolate {t}/missing.png "
                               "{t}/missing.png --out {t}/g.png", "--interpolate"),
    "generate-swapped-model": ("device", "generate --model {p} --out {t}/g.png",
                               "not a VAE decoder"),
    "generate-existing-out": ("train", "generate --model {m} --out {t}/corrupt.png",
                              "corrupt.png already exists; pass --overwrite"),
    "generate-interpolate-no-image": ("train", "generate --model {m} --interpolate "
                                      "{t}/corrupt.png {t}/corrupt.png --out {t}/g.png",
                                      "corrupt.png is not a readable image"),
    "generate-traverse-beyond-the-code": ("train", "generate --model {v} --traverse 9 --out "
                                          "{t}/g.png", "takes a dimension 0..3, got 9"),
    "generate-no-keras": ("device", "generate --model {m} --out {t}/g.png", INSTALL_TRAIN),
    # report
    "report-wrong-suffix": ("device", "report {m} --out {t}/r.pdf", ".html"),
    "report-missing-model": ("device", "report {t}/missing --out {t}/r.html",
                             "no such model directory"),
    "report-missing-benchmark": ("train", "report {m} --benchmark {t}/missing --out {t}/r.html",
                                 "--benchmark"),
    "report-no-extra": ("device", "report {m} --out {t}/r.html", INSTALL_TRAIN),
    # info
    "info-missing": ("device", "info {t}/missing.tflite", "no such model file"),
    "info-truncated": ("device", "info {t}/truncated.onnx", "not a readable ONNX model"),
    "info-foreign": ("device", "info {t}/photo.tflite", "photo.tflite"),
    # demo
    "demo-out-of-range": ("train", "demo --epochs 0", "--epochs"),
    "demo-out-is-a-file": ("train", "demo --out {t}/corrupt.png", "corrupt.png"),
    "demo-out-not-empty": ("train", "demo --out {t}/images", "pass --overwrite"),
    "demo-no-extra": ("device", "demo --out {t}/demo", INSTALL_TRAIN),
    # outputs that cannot be written: a path through a file, a file where a folder goes and
    # the reverse, checked as the command line is parsed (before any model is loaded)
    "denoise-out-through-a-file": ("device", "denoise {t}/images --pretrained live --out "
                                   "{t}/corrupt.png/d", "corrupt.png is a file, so"),
    "denoise-out-is-a-file": ("device", "denoise {t}/images --pretrained live --out "
                              "{t}/corrupt.png", "is a file; give a folder"),
    "score-out-is-a-folder": ("device", "score --model {p} --data {t}/images --out {t}/empty",
                              "is a folder; give a file name"),
    "run-events-through-a-file": ("device", "run --model {p} --source {t}/images --task score "
                                  "--events {t}/corrupt.png/e.jsonl", "corrupt.png is a file"),
    "run-threshold-without-scoring": ("device", "run --model {p} --source {t}/images "
                                      "--threshold 0.1", "--threshold decides"),
    "run-score-size-without-scoring": ("device", "run --model {p} --source {t}/images "
                                       "--score-size 16", "--score-size is the size frames"),
    "run-score-size-not-a-size": ("device", "run --model {p} --source {t}/images --task score "
                                  "--score-size big", "expected N or HxW or 'frame'"),
    "run-absurd-threads": ("device", "run --model {p} --source {t}/images --threads 100000",
                           "<= 1024"),
    # an output that is its own input: refused even with --overwrite, which would destroy it
    "denoise-video-over-itself": ("device", "denoise {t}/clip/clip.avi --pretrained live --out "
                                  "{t}/clip --overwrite", "would write over the input"),
    "run-output-over-its-source": ("device", "run --model {p} --source {t}/clip/clip.avi "
                                   "--output {t}/clip/clip.avi --overwrite",
                                   "would write over the input"),
    "score-maps-over-its-images": ("device", "score --model {p} --data {t}/images --out "
                                   "{t}/s.csv --maps {t}/images --overwrite",
                                   "is inside --data"),
    "score-out-over-its-data": ("device", "score --model {p} --data {t}/rows.csv --out "
                                "{t}/rows.csv --overwrite", "would write over --data"),
    "score-out-over-the-model-directory": ("train", "score --model {m} --data {t}/images --out "
                                           "{m}/history.csv --overwrite",
                                           "would write over --model"),
    "evaluate-out-over-the-manifest": ("train", "evaluate --model {p} --data {t}/images --out "
                                       "{p}.json --overwrite", "would write over --model's"),
    "generate-out-over-its-image": ("device", "generate --model {p} --interpolate "
                                    "{t}/images/img_000.png {t}/images/img_001.png --out "
                                    "{t}/images/img_001.png --overwrite",
                                    "would write over --interpolate B"),
    "generate-save-each-over-its-images": ("device", "generate --model {p} --interpolate "
                                           "{t}/images/img_000.png {t}/images/img_001.png --out "
                                           "{t}/g.png --save-each {t}/images --overwrite",
                                           "is or holds --interpolate A"),
    "export-over-the-file-it-exports": ("train", "export {t}/unet/model_fp32.onnx --calibration "
                                        "{t}/images --format onnx --precision fp32 --out "
                                        "{t}/unet --overwrite", "would write over the input"),
    "run-output-inside-its-source-folder": ("device", "run --model {p} --source {t}/images "
                                            "--output {t}/images/clean",
                                            "inside the --source folder"),
    "run-events-over-the-manifest": ("device", "run --model {p} --source {t}/images --task score "
                                     "--events {p}.json --overwrite",
                                     "would write over --model's manifest"),
    "run-events-over-the-export-report": ("device", "run --model {t}/conv/model_fp32.onnx "
                                          "--source {t}/images "
                                          "--task score --events {t}/conv/parity.json "
                                          "--overwrite", "would write over its export's report"),
    "run-events-into-a-json-document": ("device", "run --model {p} --source {t}/images --task "
                                        "score --events {t}/config.json", "is no events log"),
    # refused before --threads auto's trials run (seconds; they print a line of their own)
    "run-existing-output-before-the-trials": ("device", "run --model {p} --source {t}/images "
                                              "--threads auto --output {t}/clip/clip.avi",
                                              "already exists"),
    "denoise-resume-and-overwrite": ("device", "denoise {t}/images --pretrained live --out "
                                    "{t}/d --resume --overwrite", "give one of them"),
    "score-channels-against-the-model": ("device", "score --model {p} --data {t}/images "
                                         "--channels 3 --out {t}/s.csv", "takes 1-channel"),
    "denoise-undecodable-video": ("device", "denoise {t}/notes.mp4 --pretrained live --out {t}/d",
                                  "is not a video OpenCV can decode"),
    "train-over-a-trained-model": ("train", "train autoencoder --data {t}/images --out {m}",
                                   "already holds a trained model; pass --overwrite"),
    "train-negative-seed": ("train", "train autoencoder --data {t}/images --seed -1 --out {t}/o",
                            "--seed: must be >= 0"),
    "train-out-is-a-file": ("train", "train autoencoder --data {t}/images --out "
                            "{t}/corrupt.png", "is a file; give a folder"),
    "train-fake-quant-alone": ("train", "train denoiser --data {t}/images --fake-quant moving "
                               "--out {t}/fq", "add --quantization-aware"),
    "export-out-through-a-file": ("train", "export {m} --out {t}/corrupt.png/e",
                                  "corrupt.png is a file, so"),
    "report-out-through-a-file": ("device", "report {m} --out {t}/corrupt.png/r.html",
                                  "corrupt.png is a file, so"),
    # a model and its parameters, checked without Keras (they were found 5-12 s in)
    "train-unknown-model": ("train", "train autoencoder --data {t}/images --model vit --out "
                            "{t}/o", "unknown model 'vit'; choose one of"),
    "train-one-image-of-too-few-tiles": ("train", "train denoiser --data {t}/images/img_000.png "
                                         "--patch-size 12 --out {t}/o", "lower --patch-size"),
    "train-one-image-resized": ("train", "train denoiser --data {t}/images/img_000.png "
                                "--patch-size 8 --image-size 32 --out {t}/o", "drop --image-size"),
    "train-vae-of-another-model": ("train", "train vae --data {t}/images --model conv --out "
                                   "{t}/o", "trains the vae model, and only it does"),
    "train-filters-of-none": ("train", "train autoencoder --data {t}/images --filters 0,8 --out "
                              "{t}/o", "bad parameter filters"),
    # an output folder --overwrite would replace while it is or holds an input
    "adapt-out-is-its-footage": ("train", "adapt --pretrained live --data {t}/images --out "
                                 "{t}/images --overwrite", "is or holds --data"),
    "adapt-keep-frames-over-its-source": ("train", "adapt --pretrained live --source "
                                          "{t}/clip/clip.avi --keep-frames {t}/clip --out "
                                          "{t}/a --overwrite", "is or holds --source"),
    "adapt-keep-frames-as-out": ("train", "adapt --pretrained live --source {t}/clip/clip.avi "
                                 "--keep-frames {t}/new/frames --out {t}/new --overwrite",
                                 "must be folders apart"),
    "train-initial-weights-inside-out": ("train", "train autoencoder --data {t}/images "
                                         "--initial-weights {m}/model.keras --out {m} "
                                         "--overwrite", "is or holds --initial-weights"),
    "train-out-where-nothing-can-be-written": ("train", "train autoencoder --data {t}/images "
                                               "--out /proc/edgeae/m", "cannot write in /proc"),
    "adapt-too-few-frames-to-hold-out": ("train", "adapt --pretrained live --data "
                                         "{t}/footage --holdout 0.5 --out {t}/a",
                                         "leave too few to train on"),
    "adapt-frames-too-small": ("train", "adapt --pretrained live --data {t}/footage --out {t}/a",
                               "too small to adapt on: this model needs 32 pixels a side"),
    "adapt-patch-size-off-the-grid": ("train", "adapt --pretrained live --data {t}/images "
                                      "--patch-size 12 --out {t}/a", "multiples of 8; try"),
    # the other device environment: older OpenCV and numpy
    "tflite-env-missing-model": ("tflite", "reconstruct --model {t}/missing.tflite --data "
                                 "{t}/images --out {t}/r", "no such model file"),
    "tflite-env-all-corrupt": ("tflite", "denoise {t}/corrupt --pretrained live --backend "
                               "tflite-runtime --out {t}/d",
                               "none of the 2 images could be denoised (cannot read"),
    "tflite-env-no-sklearn": ("tflite", "evaluate --model {p} --data {t}/images", INSTALL_TRAIN),
    # a traceback once the source had opened
    "tflite-env-serve-no-prometheus": ("tflite", "run --pretrained live --backend tflite-runtime "
                                       "--source {t}/clip/clip.avi --serve 127.0.0.1:8089",
                                       "--serve needs prometheus_client: pip install"),
    # a JSON edited beside its file: tflite-runtime read no embedded manifest and trusted it
    "tflite-env-edited-json": ("tflite", "denoise {t}/images --model {t}/edited/live_fp32.tflite "
                               "--out {t}/d", "does not match the manifest embedded"),
    "device-edited-json": ("device", "denoise {t}/images --model {t}/edited/live_fp32.tflite "
                           "--out {t}/d", "does not match the manifest embedded"),
}


@pytest.fixture(scope="module")
def bad(tmp_path_factory, conv_dir) -> Path:
    """One folder holding every kind of bad input, beside a few good images."""
    t = tmp_path_factory.mktemp("bad")
    # a conv autoencoder's fp32 ONNX file, which is not rebuilt from it
    assert run_cli("export", conv_dir, "--format", "onnx", "--precision", "fp32", "--out",
                   t / "conv")[0] == 0
    write_folder(t / "images", blobs(3))
    write_folder(t / "footage", blobs(6))
    (t / "empty").mkdir()
    (t / "corrupt").mkdir()
    (t / "corrupt" / "a.png").write_bytes(b"not an image at all")
    (t / "corrupt" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))
    (t / "corrupt.png").write_bytes(b"not an image at all")
    good_png = (t / "images" / "img_000.png").read_bytes()
    (t / "truncated.png").write_bytes(good_png[:len(good_png) // 2])
    (t / "empty.tflite").write_bytes(b"")
    (t / "photo.tflite").write_bytes(good_png)
    (t / "notes.onnx").write_text("these are my notes, not a model\n")
    (t / "rows.csv").write_text("1,2,3\n4,5,6\n")  # series rows
    (t / "config.json").write_text('{"a": 1}\n')  # a JSON document, no events log
    (t / "notes.mp4").write_text("these are my notes, not a video\n")
    write_folder(t / "tiny", blobs(1)[:, :1, :1])  # one 1x1 frame
    (t / "clip").mkdir()
    write_video(t / "clip" / "clip.avi", blobs(3, channels=3))
    write_folder(t / "mixed", blobs(2))
    write_folder(t / "mixed" / "larger", blobs(2, size=24))
    photo = cv2.imencode(".jpg", blobs(1, size=64)[0])[1].tobytes()
    write_folder(t / "cut", blobs(2))
    (t / "cut" / "cut.jpg").write_bytes(photo[:len(photo) * 3 // 4])
    onnx = (PRETRAINED_DIR / "live_fp32.onnx").read_bytes()
    (t / "truncated.onnx").write_bytes(onnx[:len(onnx) // 3])
    (t / "unet").mkdir()  # a U-Net's fp32 ONNX file, which export rebuilds
    for suffix in ("", ".json"):
        shutil.copy(PRETRAINED_DIR / f"live_fp32.onnx{suffix}",
                    t / "unet" / f"model_fp32.onnx{suffix}")
    inf = blobs(4).astype(np.float32) / 255
    inf[1, 0, 0] = np.inf
    np.save(t / "inf.npy", inf)
    np.save(t / "one_rgb.npy", blobs(1, channels=3)[0])  # (16, 16, 3): one image, not a batch
    (t / "edited").mkdir()
    live = PRETRAINED_DIR / "live_fp32.tflite"
    (t / "edited" / live.name).write_bytes(live.read_bytes())
    edited = json.loads((PRETRAINED_DIR / "live_fp32.tflite.json").read_text())
    edited["normalization"]["scale"] = 1.0
    (t / "edited" / "live_fp32.tflite.json").write_text(json.dumps(edited))
    np.save(t / "pickled.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    return t


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory) -> Path:
    """A folder to put first on PYTHONPATH: importing tensorflow there is an error."""
    root = tmp_path_factory.mktemp("poison")
    (root / "tensorflow").mkdir()
    (root / "tensorflow" / "__init__.py").write_text(
        'raise ImportError("TensorFlow was imported before the input was checked")\n')
    return root


def device_python(where: str) -> Path:
    """A device environment's interpreter; fail under CI, skip elsewhere, if missing."""
    venv, expected = DEVICE_VENVS[where]
    python = venv / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI") and expected:
            pytest.fail(f"{venv.name} is missing: CI must create it (make install)")
        pytest.skip(f"no {venv.name} here; `make install` creates it")
    return python


def edgeae(python: Path, args: list[str], cwd: Path,
           pythonpath: Path | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run `python -m edgeae ARGS` as a user would; return the finished process and seconds."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "OPENCV_LOG_LEVEL")}
    paths = [str(pythonpath) if pythonpath else None, os.environ.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    start = time.perf_counter()
    done = subprocess.run([str(python), "-m", "edgeae", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)
    return done, time.perf_counter() - start


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_at_once(case, bad, no_tensorflow, request, tmp_path):
    where, line, fragment = CASES[case]
    values = {"t": bad, "p": PRETRAINED_DIR / "live_fp32.onnx",
              "m": request.getfixturevalue("conv_dir") if "{m}" in line else None,
              "v": request.getfixturevalue("vae_dir") if "{v}" in line else None}
    args = [a.format(**values) for a in line.split()]
    if where in DEVICE_VENVS:
        done, seconds = edgeae(device_python(where), args, tmp_path)
    else:
        done, seconds = edgeae(Path(sys.executable), args, tmp_path, no_tensorflow)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    assert fragment in lines[0], done.stderr
    assert seconds < ANSWER_S, f"took {seconds:.1f} s to answer"


@pytest.mark.parametrize("where", list(DEVICE_VENVS))
def test_a_tflite_file_copied_alone_loads_in_each_device_environment(where, tmp_path):
    """Its embedded manifest stands in for the JSON; tflite-runtime could not read it."""
    alone = tmp_path / "live_fp32.tflite"
    alone.write_bytes((PRETRAINED_DIR / "live_fp32.tflite").read_bytes())
    done, _ = edgeae(device_python(where), ["info", str(alone)], tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["task"] == "denoiser", done.stderr
