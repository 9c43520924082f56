#!/usr/bin/env bash
# Usage: sudo benchmarks/arm_check.sh [ROOT]      (ROOT defaults to /var/tmp/edgeae-arm64)
#
# Proves the edgeae runtime works on the Raspberry Pi's architecture (aarch64) on an x86 Debian
# host, under qemu user-mode emulation: an arm64 Debian bookworm root (Python 3.11, the base of
# Raspberry Pi OS bookworm) gets the aarch64 wheels of the runtime, openvino and ncnn extras and
# edgeae's own wheel, no TensorFlow; then the runtime's device-environment tests and a short
# `edgeae run` on a video use that interpreter. It proves the deployment path and the aarch64 wheels, not speed:
# emulated timings say nothing about a real board.
#
# Needs root (apt-get, binfmt_misc, debootstrap, chroot, mount namespaces) and the repository's
# .venv (`make install`). Re-running reuses the root, the wheels and the venv; only edgeae's wheel
# is rebuilt from the checkout (and reinstalled when it changed). Writes
# benchmarks/results/arm-check.json and leaves no mounts or processes behind.
# ROOT-python (a file beside ROOT) runs ROOT's aarch64 Python like a local interpreter.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(realpath -m "${1:-/var/tmp/edgeae-arm64}")
WRAPPER="$ROOT-python"
HOST_PY="$REPO/.venv/bin/python"
SUITE=bookworm
WORK=/tmp/edgeae-arm-check  # under /tmp: the wrapper shows /tmp inside the root unchanged
RESULT="$REPO/benchmarks/results/arm-check.json"
VIDEO_FRAMES=30
# pip's platform tags for aarch64 wheels that bookworm's glibc (2.36) can load
AARCH64_PLATFORMS=(manylinux_2_36_aarch64 manylinux_2_35_aarch64 manylinux_2_34_aarch64
                   manylinux_2_31_aarch64 manylinux_2_28_aarch64 manylinux_2_27_aarch64
                   manylinux_2_17_aarch64 manylinux2014_aarch64)

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'arm_check: %s\n' "$*" >&2; exit 1; }

# Runs a command inside the root with a clean environment: the host's PIP_* settings, PYTHONPATH
# or virtualenv must not leak into the aarch64 Python.
in_root() {
    env -i HOME=/root LANG=C.UTF-8 PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        chroot "$ROOT" "$@"
}

# --- a. host packages and binfmt_misc --------------------------------------------------------

host_tools() {
    local missing=()
    command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
    command -v update-binfmts >/dev/null || missing+=(binfmt-support)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if ((${#missing[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
    # Containers often start without binfmt_misc: the kernel then cannot hand aarch64 ELF files
    # to qemu.
    if [ -z "$(ls -A /proc/sys/fs/binfmt_misc 2>/dev/null)" ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    fi
    if ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
        update-binfmts --enable qemu-aarch64
    fi
    # The F (fix binary) flag makes the kernel open qemu now, so it runs inside a chroot that
    # does not contain qemu.
    grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
        || die "qemu-aarch64 is registered without the F flag: chroots would not find qemu"
}

# --- b. the arm64 Debian root ----------------------------------------------------------------

# The Debian mirror apt uses here (deb822 .sources or one-line .list), for the root's packages.
debian_mirror() {
    local uri
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
              /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | grep -oE '^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)[^[:space:]]+/debian/?([[:space:]]|$)' \
          | grep -oE '[a-z]+://[^[:space:]]+' | head -n1 || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

rootfs() {
    if [ -x "$ROOT/usr/bin/python3" ]; then
        echo "reusing $ROOT"
    else
        local mirror
        mirror=$(debian_mirror)
        echo "debootstrap $SUITE arm64 from $mirror into $ROOT"
        mkdir -p "$ROOT"
        debootstrap --arch=arm64 --variant=minbase \
            --include=python3,python3-venv,python3-pip,ca-certificates "$SUITE" "$ROOT" "$mirror"
    fi
    local machine
    machine=$(in_root uname -m)
    [ "$machine" = aarch64 ] || die "binaries in $ROOT run as '$machine', not aarch64"
}

# --- c. wheels and the venv ------------------------------------------------------------------

# pip inside the emulated root cannot verify this workplace's TLS chain (EDGE-NOTES), so the
# host downloads the aarch64 wheels for Python 3.11; pip download skips files already there.
download_wheels() {
    local platforms=()
    for tag in "${AARCH64_PLATFORMS[@]}"; do platforms+=(--platform "$tag"); done
    mkdir -p "$ROOT/wheels"
    "$HOST_PY" -m pip download --quiet --only-binary=:all: --python-version 3.11 \
        --implementation cp --abi cp311 "${platforms[@]}" -d "$ROOT/wheels" \
        ai-edge-litert onnxruntime openvino ncnn opencv-python-headless numpy pydantic pytest
}

# edgeae is pure Python: its wheel is built on the host, from a copy of the checkout (tracked
# and untracked-but-not-ignored files) so the build leaves nothing in the repository.
build_edgeae_wheel() {
    local src="$WORK/edgeae-src" out="$WORK/edgeae-wheel"
    rm -rf "$src" "$out"
    mkdir -p "$src" "$out"
    # (tracked files deleted in the working tree are listed too: cp skips them)
    git -C "$REPO" ls-files -z --cached --others --exclude-standard \
        | (cd "$REPO" && xargs -0 cp --parents -t "$src" 2>/dev/null || true)
    "$HOST_PY" -m pip wheel --quiet --no-deps -w "$out" "$src"
    rm -rf "$src"
    rm -f "$ROOT"/wheels/edgeae-*.whl
    cp "$out"/edgeae-*.whl "$ROOT/wheels/"
}

install_venv() {
    [ -x "$ROOT/opt/venv/bin/python" ] || in_root python3 -m venv /opt/venv
    in_root /opt/venv/bin/pip install --quiet --disable-pip-version-check --no-index \
        --find-links /wheels 'edgeae[runtime,openvino,ncnn]' pytest
    # Same version, new code: pip would keep the old edgeae, so reinstall it when the wheel's
    # content differs from the one installed last time.
    local wheel sum stamp="$ROOT/opt/venv/.edgeae-wheel.sha256"
    wheel=$(cd "$ROOT/wheels" && ls edgeae-*.whl)
    sum=$("$HOST_PY" -c 'import hashlib, sys, zipfile
zf = zipfile.ZipFile(sys.argv[1])  # the files, not the zip: build times differ
print(hashlib.sha256(b"".join(zf.read(n) for n in sorted(zf.namelist()))).hexdigest())' \
        "$ROOT/wheels/$wheel")
    if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
        in_root /opt/venv/bin/pip install --quiet --disable-pip-version-check --no-index \
            --no-deps --force-reinstall "/wheels/$wheel"
        echo "$sum" >"$stamp"
    fi
}

verify_venv() {
    local machine
    machine=$(in_root /opt/venv/bin/python -c "import platform, edgeae.runtime, \
ai_edge_litert.interpreter, onnxruntime, openvino, ncnn, cv2; print(platform.machine())")
    [ "$machine" = aarch64 ] || die "the root's Python reports '$machine', not aarch64"
    # The runtime must need no TensorFlow: it must not even be installed there.
    in_root /opt/venv/bin/python -c "import importlib.util as u; \
assert u.find_spec('tensorflow') is None, 'tensorflow is importable'"
    echo "aarch64 Python imports edgeae.runtime, LiteRT, onnxruntime, OpenVINO, ncnn and OpenCV;" \
        "no TensorFlow"
}

venv() { download_wheels; build_edgeae_wheel; install_venv; verify_venv; }

# --- d. the wrapper interpreter --------------------------------------------------------------

# The wrapper enters a private mount namespace, so its bind mounts vanish when it ends (even if
# killed) and concurrent calls don't race; /tmp and the repository keep their host paths inside.
# PYTHONSAFEPATH keeps the working directory off sys.path: from the repository root, `edgeae`
# would otherwise be the source folder, not the installed wheel.
write_wrapper() {
    {
        cat <<EOF
#!/usr/bin/env bash
# Generated by benchmarks/arm_check.sh: runs the aarch64 /opt/venv/bin/python of ROOT (qemu user
# mode) with the caller's working directory and arguments; /tmp and REPO keep their paths inside.
# Needs root (mount namespace, chroot).
ROOT=$(printf %q "$ROOT")
REPO=$(printf %q "$REPO")
EOF
        cat <<'EOF'
set -euo pipefail
if [ -z "${EDGEAE_IN_MOUNT_NS:-}" ]; then
    # Host settings that must not reach the aarch64 Python.
    unset PYTHONPATH PYTHONHOME VIRTUAL_ENV "${!PIP_@}"
    export PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONSAFEPATH=1
    EDGEAE_IN_MOUNT_NS=1 exec unshare --mount --propagation private "$(realpath "$0")" "$@"
fi
unset EDGEAE_IN_MOUNT_NS
# In the private namespace: these mounts end with this command. No /sys: with both the host's
# /proc and /sys (x86 CPU facts), importing onnxruntime segfaults under qemu 7.2 (its CPU probe);
# with /proc alone it works.
mount -t proc proc "$ROOT/proc" 2>/dev/null || mount --rbind /proc "$ROOT/proc"
for dir in /dev /tmp "$REPO"; do
    mkdir -p "$ROOT$dir"
    mount --rbind "$dir" "$ROOT$dir"
done
if [ ! -d "$ROOT$PWD" ]; then
    echo "$PWD is not visible inside $ROOT: run from /tmp or $REPO" >&2
    exit 2
fi
exec chroot "$ROOT" /bin/sh -c 'cd "$0" && exec /opt/venv/bin/python "$@"' "$PWD" "$@"
EOF
    } >"$WRAPPER"
    chmod +x "$WRAPPER"
    local seen
    seen=$(cd "$REPO" && "$WRAPPER" -c "import os, platform; print(platform.machine(), os.getcwd())")
    [ "$seen" = "aarch64 $REPO" ] || die "the wrapper reports '$seen'"
    echo "$WRAPPER runs aarch64 Python in $REPO"
}

# --- e. the runtime's device-environment tests -----------------------------------------------

device_tests() {
    local log="$WORK/pytest.log" rc=0
    (cd "$REPO" && EDGEAE_DEVICE_PYTHON="$WRAPPER" CI='' "$HOST_PY" -m pytest -q \
        tests/test_runtime.py -k "device_environment and aarch64" -p no:cacheprovider) \
        2>&1 | tee "$log" || rc=$?
    grep -E '(passed|failed|error|skipped|deselected)' "$log" | tail -n1 >"$WORK/pytest.summary"
    ((rc == 0)) || die "device-environment tests failed"
    # Skipped tests would prove nothing: the aarch64 ones must all have run.
    grep -Eq '[0-9]+ passed' "$WORK/pytest.summary" || die "no aarch64 test ran"
    if grep -Eq 'skipped|failed|error' "$WORK/pytest.summary"; then
        die "not every aarch64 test passed"
    fi
}

# --- f. a short `edgeae run` on a video ------------------------------------------------------

make_video() {
    "$HOST_PY" - "$1" "$VIDEO_FRAMES" <<'EOF'
import sys

import cv2
import numpy as np

path, count = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240), isColor=False)
assert writer.isOpened(), path
x = np.arange(320)
for i in range(count):  # moving gray stripes with Gaussian noise (sigma 25)
    clean = 128 + 60 * np.sin((x + 4 * i) / 12.0)
    writer.write(np.clip(clean[None] + rng.normal(0, 25, (240, 320)), 0, 255).astype(np.uint8))
writer.release()
EOF
}

video_run() {
    local video="$WORK/noisy-320x240.avi" out="$WORK/run-out"
    make_video "$video"
    # --gray: MJPG decodes as 3 identical planes; the gray model then runs once per frame.
    (cd "$REPO" && "$WRAPPER" -m edgeae run --pretrained live --source "$video" --gray \
        --output "$out" --overwrite) | tee "$WORK/run.json"
    local frames pngs
    frames=$("$HOST_PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["frames"])' \
        "$WORK/run.json")
    pngs=$(find "$out" -name '*.png' | wc -l)
    [ "$frames" = "$VIDEO_FRAMES" ] && [ "$pngs" = "$VIDEO_FRAMES" ] \
        || die "edgeae run processed $frames frames and wrote $pngs, not $VIDEO_FRAMES"
}

# --- g. timing and the summary ---------------------------------------------------------------

CURRENT=""
STEP_START=""
STEPS="$WORK/steps.tsv"

seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

step() {  # step NAME FUNCTION: runs it, timed; a failure ends the script (set -e) via on_exit
    CURRENT=$1
    STEP_START=$(date +%s.%N)
    log "$1"
    "$2"
    printf '%s\tpass\t%s\n' "$1" "$(seconds_since "$STEP_START")" >>"$STEPS"
    CURRENT=""
}

on_exit() {
    local rc=$?
    trap - EXIT
    if [ -n "$CURRENT" ]; then
        printf '%s\tfail\t%s\n' "$CURRENT" "$(seconds_since "$STEP_START")" >>"$STEPS"
    fi
    [ ! -f "$STEPS" ] || summary "$rc" || true
    exit "$rc"
}

# The JSON summary: what ran where, each step's time and status, and the two checks' results.
summary() {
    local freeze="" python=""
    if [ -x "$ROOT/opt/venv/bin/python" ]; then
        freeze=$(in_root /opt/venv/bin/pip freeze --disable-pip-version-check 2>/dev/null || true)
        python=$(in_root /opt/venv/bin/python -V 2>&1 || true)
    fi
    mkdir -p "$(dirname "$RESULT")"
    RC=$1 ROOT="$ROOT" SUITE="$SUITE" FREEZE="$freeze" PYTHON_INSIDE="$python" \
    TOTAL="$(seconds_since "$TOTAL_START")" FRAMES="$VIDEO_FRAMES" \
        "$HOST_PY" - "$STEPS" "$WORK" "$RESULT" <<'EOF'
import json, os, platform, subprocess, sys
from datetime import datetime, timezone
from pathlib import Path

steps, work, result = (Path(arg) for arg in sys.argv[1:])
env = os.environ


def text(name):
    path = work / name
    return path.read_text().strip() if path.exists() and path.read_text().strip() else None


debian = Path(env["ROOT"], "etc/debian_version")
qemu = subprocess.run(["qemu-aarch64-static", "--version"], capture_output=True, text=True)
run = json.loads(text("run.json")) if text("run.json") else None
summary = {
    "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "command": f"benchmarks/arm_check.sh {env['ROOT']}",
    "passed": env["RC"] == "0",
    "host": {"name": platform.node(), "machine": platform.machine(),
             "kernel": platform.release(), "cpus": os.cpu_count()},
    "qemu": qemu.stdout.splitlines()[0] if qemu.stdout else None,
    "debian": f"{env['SUITE']} {debian.read_text().strip()}" if debian.exists() else None,
    "python_inside": env["PYTHON_INSIDE"] or None,
    "packages_inside": env["FREEZE"].splitlines(),
    "steps": {name: {"status": status, "seconds": float(sec)}
              for name, status, sec in (line.split("\t") for line in steps.read_text().splitlines())},
    "total_seconds": float(env["TOTAL"]),
    "pytest": text("pytest.summary"),
    "video_run": None if run is None else {
        "source": f"320x240 gray MJPG, {env['FRAMES']} frames, Gaussian noise sigma 25",
        "command": "edgeae run --pretrained live --gray --source VIDEO --output DIR",
        "frames": run["frames"], "seconds": run["seconds"], "fps": round(run["fps"], 2),
        "model_ms_p50": round(run["model_ms"]["p50"], 1)},
    "note": "emulated (qemu user mode on x86): timings say nothing about a real board",
}
result.write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
EOF
}

main() {
    [ "$(id -u)" = 0 ] || die "run as root (apt-get, binfmt_misc, debootstrap, chroot, mounts)"
    [ -x "$HOST_PY" ] || die "$HOST_PY is missing: run make install first"
    mkdir -p "$WORK"
    : >"$STEPS"
    rm -f "$WORK/pytest.summary" "$WORK/run.json"
    TOTAL_START=$(date +%s.%N)
    trap on_exit EXIT  # the summary is written even when a step fails
    step host_tools host_tools
    step rootfs rootfs
    step venv venv
    step wrapper write_wrapper
    step device_tests device_tests
    step video_run video_run
    log "summary ($RESULT)"
}

main "$@"
