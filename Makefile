# Three environments: .venv trains and exports (TensorFlow); the two a device gets, with no
# TensorFlow, prove the runtime needs nothing more: .venv-runtime (LiteRT, onnxruntime, OpenVINO,
# ncnn, PyAV, numpy 2) and .venv-tflite (tflite-runtime, onnxruntime, numpy < 2, no PyAV;
# tflite-runtime has wheels for Python <= 3.11 only, so it is skipped on newer Pythons).
PYTHON ?= python3
VENV := .venv
RUNTIME_VENV := .venv-runtime
TFLITE_VENV := .venv-tflite
PIP_FLAGS := --quiet --disable-pip-version-check
HAS_TFLITE_WHEELS := $(shell $(PYTHON) -c 'import sys; print(int(sys.version_info < (3, 12)))')

.PHONY: install demo test lint clean pretrained pretrained-video pretrained-camera \
	pretrained-camera-stream pretrained-stream pretrained-camera-video \
	pretrained-ncnn

install: $(VENV)/.installed $(RUNTIME_VENV)/.installed
ifeq ($(HAS_TFLITE_WHEELS),1)
install: $(TFLITE_VENV)/.installed
endif

# uv installs the releases pip would (the same versions, compared with `pip freeze`), faster:
# a fresh clone's `make install` took 210 s with pip, 41 s with uv (2026-12-08, empty caches).
# uv reads no pip.conf: a private index goes in UV_INDEX_URL.
UV := $(VENV)/bin/uv
UV_INSTALL = $(UV) pip install --quiet --python

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) uv

$(VENV)/.installed: pyproject.toml | $(UV)
	$(UV_INSTALL) $(VENV)/bin/python -e ".[train,runtime,openvino,ncnn,service,video,dev]"
	$(UV_INSTALL) $(VENV)/bin/python --no-deps pnnx  # export --format ncnn (no PyTorch)
	touch $@

$(RUNTIME_VENV)/.installed: pyproject.toml | $(UV)
	$(PYTHON) -m venv $(RUNTIME_VENV)
	$(UV_INSTALL) $(RUNTIME_VENV)/bin/python -e ".[runtime,openvino,ncnn,service,video]"
	touch $@

$(TFLITE_VENV)/.installed: pyproject.toml | $(UV)
	$(PYTHON) -m venv $(TFLITE_VENV)
	$(UV_INSTALL) $(TFLITE_VENV)/bin/python -e ".[runtime-tflite]"
	touch $@

demo: install
	$(VENV)/bin/edgeae demo --out edgeae-demo --overwrite

# The shipped denoisers (runtime/pretrained/): blind gray U-Nets trained on Train400 with
# Gaussian noise of sigma 0-55, each for at most PRETRAINED_MINUTES, exported to TFLite and ONNX
# in fp32 and int8 and checked against Keras. Slow: run it in the background. Or train on a GPU
# machine with `KERAS_BACKEND=jax python -m edgeae.train.pretrain` (no TensorFlow needed there;
# BENCHMARKS.md has the command) and pass PRETRAINED_WEIGHTS=DIR holding live.weights.h5 and
# quality.weights.h5: one epoch at a negligible rate then only makes them model directories.
# The models in PRETRAINED_QAT train quantization-aware (8 epochs from the GPU weights), which
# brings live's int8 loss on Set12 from 0.47 to 0.18 dB (BENCHMARKS.md).
DATA ?= ../shared/data
PRETRAINED_WORK ?= pretrained-work
# ship_files NAME,FOLDER,FILES: copy FOLDER's FILES into runtime/pretrained/ as NAME_FILE (less
# its "model_"); ship NAME: its export's TFLite and ONNX files, fp32 and int8, with manifests
ship_files = set -e; for f in $(3); do \
	  cp $(PRETRAINED_WORK)/$(2)/$$f runtime/pretrained/$(1)_$${f\#model_}; \
	done
ship = $(call ship_files,$(1),$(1)-export,$(foreach f,model_fp32.tflite model_int8.tflite \
	model_fp32.onnx model_int8.onnx,$(f) $(f).json))
PRETRAINED_MINUTES ?= 45
PRETRAINED_SIZES := live:small quality:medium
PRETRAINED_QAT := live
PRETRAINED_WEIGHTS ?=
PRETRAINED_SCHEDULE = $(if $(PRETRAINED_WEIGHTS),--initial-weights \
  $(PRETRAINED_WEIGHTS)/$$name.weights.h5 --epochs 1 --learning-rate 1e-6,--epochs 400)
# the shipped files were tuned with the moving scheme; `cover`, the default since 2026-12-05, loses
# 0.09 dB less in int8 on validation images (BENCHMARKS.md, "Quantization-aware training: the
# export's own scheme"), and is what a retraining should use once the shipped models are re-made
QAT_SHIPPED = --quantization-aware --fake-quant moving
PRETRAINED_QAT_SCHEDULE = $(QAT_SHIPPED) \
  $(if $(PRETRAINED_WEIGHTS),--epochs 8 --learning-rate 1e-4,)

# the single-frame denoisers' shared recipe: a U-Net of $$size on Train400's 64x64 patches
DENOISER_TRAIN = $(VENV)/bin/edgeae train denoiser --data $(DATA)/train400 --model unet \
  --size $$size --patch-size 64 --patches-per-image 16 --batch-size 32 --patience 12

pretrained: $(VENV)/.installed
	set -e; for pair in $(PRETRAINED_SIZES); do \
	  name=$${pair%%:*}; size=$${pair##*:}; qat=""; \
	  case " $(PRETRAINED_QAT) " in *" $$name "*) qat="$(PRETRAINED_QAT_SCHEDULE)";; esac; \
	  $(DENOISER_TRAIN) --noise gaussian:0-55 $(PRETRAINED_SCHEDULE) $$qat \
	    --time-limit $(PRETRAINED_MINUTES) --out $(PRETRAINED_WORK)/$$name; \
	  $(VENV)/bin/edgeae export $(PRETRAINED_WORK)/$$name --format all --precision fp32,int8 \
	    --out $(PRETRAINED_WORK)/$$name-export --overwrite; \
	  $(call ship,$${name}); \
	done
	$(MAKE) pretrained-video pretrained-camera pretrained-camera-stream pretrained-stream \
	  pretrained-camera-video pretrained-ncnn

# live-video: the shipped `live` made recurrent (`--temporal recurrent`): `live` itself frozen
# inside, only the small fusion that blends in its last output trains, unrolled over 4-frame clips
# a moving camera makes from the same Train400 images (sigma 0-55). On 2 CPU cores, from the
# shipped live_fp32.onnx; exported and gated on clips like the others, in fp32 and int8. No
# OpenVINO IR: OpenVINO runs the int8 ONNX faster than NNCF's IR, which kept layers in float.
LIVE_VIDEO_MINUTES ?= 40

# recurrent NAME,BASE,NOISE,MINUTES: BASE's fp32 ONNX made recurrent and trained on NOISE (only
# the fusion trains), exported in fp32 to every format and in int8 to TFLite and ONNX, shipped
recurrent = set -e; \
	$(VENV)/bin/edgeae train denoiser --data $(DATA)/train400 --model unet --size small \
	  --temporal recurrent --noise '$(3)' --patch-size 64 --patches-per-image 16 \
	  --batch-size 16 --learning-rate 1e-3 --initial-weights runtime/pretrained/$(2)_fp32.onnx \
	  --epochs 400 --patience 12 --time-limit $(4) --out $(PRETRAINED_WORK)/$(1) --overwrite; \
	$(VENV)/bin/edgeae export $(PRETRAINED_WORK)/$(1) --format all --precision fp32 \
	  --out $(PRETRAINED_WORK)/$(1)-export --overwrite; \
	for f in tflite onnx; do \
	  $(VENV)/bin/edgeae export $(PRETRAINED_WORK)/$(1) --format $$f --precision int8 \
	    --out $(PRETRAINED_WORK)/$(1)-export --overwrite; \
	done; \
	$(call ship,$(1))

pretrained-video: $(VENV)/.installed
	$(call recurrent,live-video,live,gaussian:0-55,$(LIVE_VIDEO_MINUTES))

# live-camera-video: the shipped `live-camera` made recurrent the same way, on the camera noise
# mixture with H.264 streams; `live-auto` gives it a camera's stream from its second frame where
# the grain is strong (runtime/gated.py; BENCHMARKS.md, "Camera streams"). 35 minutes on 2 cores.
CAMERA_VIDEO_MINUTES ?= 35
CAMERA_VIDEO_NOISE := gaussian:0-55|camera:bright-night,70-100|camera:bright-night+h264:18-30

pretrained-camera-video: $(VENV)/.installed
	$(call recurrent,live-camera-video,live-camera,$(CAMERA_VIDEO_NOISE),$(CAMERA_VIDEO_MINUTES))

# live-camera: the shipped `live` tuned (from its fp32 ONNX file, quantization-aware, on 2 CPU
# cores) on a mixture: half the patches with its Gaussian noise, half through the camera noise
# model at any light level from bright to night and JPEG quality 70-100 (train/camera.py), so
# one blind model also removes a real camera's correlated grain before any `edgeae adapt`.
# quality-camera is `quality` tuned the same way (not quantization-aware, as `quality` is not),
# then annealed: a second stage at a tenth of the rate on the same mixture (CAMERA_ANNEAL; on
# validation images it gained 0.04-0.05 dB on Gaussian noise and up to 0.6 dB on camera noise
# at night, where 12 more minutes at the first rate gained two thirds as much at night and lost
# at bright light; BENCHMARKS.md). The shipped second stage started from the first stage's fp32
# ONNX as it shipped before 2026-12-04. It ships beside `quality`, which stays the Gaussian model
# (quality-camera loses 0.16-0.30 dB to it on Gaussian noise).
CAMERA_MINUTES ?= 38
CAMERA_NOISE := gaussian:0-55|camera:bright-night,70-100
CAMERA_SIZES ?= live:small quality:medium
CAMERA_ANNEAL := quality
CAMERA_ANNEAL_MINUTES ?= 12
CAMERA_TRAIN = $(DENOISER_TRAIN) --noise '$(CAMERA_NOISE)' --epochs 400 --overwrite

pretrained-camera: $(VENV)/.installed
	set -e; for pair in $(CAMERA_SIZES); do \
	  base=$${pair%%:*}; size=$${pair##*:}; name=$$base-camera; qat=""; \
	  work=$(PRETRAINED_WORK)/$$name; \
	  case " $(PRETRAINED_QAT) " in *" $$base "*) qat="$(QAT_SHIPPED)";; esac; \
	  $(CAMERA_TRAIN) --initial-weights runtime/pretrained/$${base}_fp32.onnx $$qat \
	    --learning-rate 2e-4 --time-limit $(CAMERA_MINUTES) --out $$work; \
	  case " $(CAMERA_ANNEAL) " in *" $$base "*) \
	    $(CAMERA_TRAIN) --initial-weights $$work/model.keras $$qat --learning-rate 2e-5 \
	      --time-limit $(CAMERA_ANNEAL_MINUTES) --out $$work-annealed; \
	    work=$$work-annealed;; esac; \
	  $(VENV)/bin/edgeae export $$work --format all --precision fp32,int8 \
	    --out $(PRETRAINED_WORK)/$$name-export --overwrite; \
	  $(call ship,$${name}); \
	done

# live-camera's stream stages (2026-12-05; BENCHMARKS.md, "The mixture quantized at the low rate on
# the stream's mixture"): the first stage above tuned STREAM_MINUTES more on a mixture with H.264
# (each such patch the 4th frame of a still camera's stream at CRF 18-30), its weights mixed back
# with the first stage's, three parts tuned to one (WiSE-FT, benchmarks/wise_ft.py), then 8
# quantization-aware epochs at 2e-5 with the export's own scheme on the same mixture. On Set12 it
# leads NLM by 1.02 dB or more on every camera setting, the stream's frame included (the first
# stage 0.59 there), and keeps the first stage's Gaussian figures. The shipped files started
# from the first stage's fp32 ONNX as it shipped before 2026-12-05 (git history).
STREAM_NOISE := gaussian:0-55|camera:bright-night,70-100|camera:bright-night+h264:18-30,4
STREAM_MINUTES ?= 25

pretrained-camera-stream: $(VENV)/.installed
	set -e; size=small; work=$(PRETRAINED_WORK)/live-camera-stream; \
	  $(DENOISER_TRAIN) --noise '$(STREAM_NOISE)' --epochs 400 --overwrite $(QAT_SHIPPED) \
	    --initial-weights runtime/pretrained/live-camera_fp32.onnx --learning-rate 1e-4 \
	    --time-limit $(STREAM_MINUTES) --out $$work/tuned; \
	  rm -rf $$work/wise; \
	  $(VENV)/bin/python benchmarks/wise_ft.py --start runtime/pretrained/live-camera_fp32.onnx \
	    --tuned $$work/tuned --alphas 0.75 --out $$work/wise; \
	  $(DENOISER_TRAIN) --noise '$(STREAM_NOISE)' --epochs 8 --overwrite --quantization-aware \
	    --fake-quant cover --initial-weights $$work/wise/alpha-0.75/model.keras \
	    --learning-rate 2e-5 --out $(PRETRAINED_WORK)/live-camera; \
	  $(VENV)/bin/edgeae export $(PRETRAINED_WORK)/live-camera --format all \
	    --precision fp32,int8 --out $(PRETRAINED_WORK)/live-camera-export --overwrite
	$(call ship,live-camera)

# live-stream (2026-12-06): the shipped live-camera tuned LIVE_STREAM_MINUTES more, float, on camera
# noise alone: half the patches JPEG-coded, half the 4th frame of a panning camera's H.264 stream
# (CRF 18-30, 0-4 px a frame), no Gaussian noise. It is `adapt`'s brightness model
# (train/settings.py BRIGHTNESS_MODEL): on H.264 footage live-camera comes out 1-2 levels dark at
# dim and night light and an adapted model followed it (BENCHMARKS.md, "A brightness model that
# has seen H.264 streams"). The shipped files started from live-camera_fp32.onnx as it ships.
LIVE_STREAM_NOISE := camera:bright-night,70-100|camera:bright-night+h264:18-30,4,0-4
LIVE_STREAM_MINUTES ?= 20

pretrained-stream: $(VENV)/.installed
	set -e; size=small; \
	  $(DENOISER_TRAIN) --noise '$(LIVE_STREAM_NOISE)' --epochs 400 --overwrite --seed 0 \
	    --initial-weights runtime/pretrained/live-camera_fp32.onnx --learning-rate 1e-4 \
	    --time-limit $(LIVE_STREAM_MINUTES) --out $(PRETRAINED_WORK)/live-stream; \
	  $(VENV)/bin/edgeae export $(PRETRAINED_WORK)/live-stream --format all \
	    --precision fp32,int8 --out $(PRETRAINED_WORK)/live-stream-export --overwrite
	$(call ship,live-stream)

# ncnn files of the single-frame models (the ncnn backend, ncnn's ARM kernels on a Pi), fp32
# only: converted by pnnx from each shipped fp32 ONNX file (`export --pretrained`, which rebuilds
# its weights in Keras) and gated against them on DATA's Train400; the runtime counts them as
# the same model for `--backend auto`. live-video is not rebuilt from ONNX, so has none.
PRETRAINED_NCNN := live quality live-camera quality-camera live-stream

pretrained-ncnn: $(VENV)/.installed
	set -e; for name in $(PRETRAINED_NCNN); do \
	  $(VENV)/bin/edgeae export --pretrained $$name --format ncnn --precision fp32 \
	    --calibration $(DATA)/train400 --out $(PRETRAINED_WORK)/$$name-ncnn --overwrite; \
	  $(call ship_files,$${name},$$name-ncnn,model_fp32.param model_fp32.param.json \
	    model_fp32.ncnn.bin); \
	done

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# When make started (install and lint included), to print `make test`'s time beside README's.
MAKE_STARTED := $(shell date +%s)
README_TEST_TIME = $(shell grep -o 'make test .*# .*, \(about [^,]*\)' README.md | sed 's/.*, //')

# One worker per core, a whole file per worker so a module's trained fixtures are built once.
test: install lint
	$(VENV)/bin/python -m pytest -q -n auto --dist loadfile
	@echo "make test took $$(( $$(date +%s) - $(MAKE_STARTED) )) s with the install;" \
	  "README.md says: $(README_TEST_TIME)"

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) $(TFLITE_VENV) edgeae-demo .pytest_cache
