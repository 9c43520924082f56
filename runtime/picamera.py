"""The Raspberry Pi camera through Picamera2 (libcamera), read like an OpenCV VideoCapture.

On Raspberry Pi OS bookworm, OpenCV's camera index does not reach the camera module; Picamera2
does. The camera runs two streams: the model reads the small `lores` one (YUV420, converted to
BGR into the caller's buffer, or for a gray model its Y plane alone, only stretched from video
range), the full-size `main` one is left for recording. Only Picamera2's documented API is used
(Picamera2(camera_num), global_camera_info(), create_video_configuration, align_configuration,
configure, start, capture_array("lores"), stop, close), so this adapter is a thin one: it was
tested here against a stand-in module implementing that API, not on a Pi (README).
"""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np

from edgeae.core.errors import UserError

LORES_SIZE = (640, 480)  # (width, height) the model reads unless --camera-size says
# Picamera2's video configurations are in video range (Smpte170m below 1280x720, Rec709 from it):
# Y runs from 16 (black) to 235 (white), as OpenCV's YUV2BGR_I420 expects; gray frames span 0-255
VIDEO_TO_FULL_RANGE = np.clip(np.rint((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)
INSTALL_HINT = ("Picamera2 is not installed: on Raspberry Pi OS, `sudo apt install "
                "python3-picamera2` and create the venv with --system-site-packages")


def picamera2_available() -> bool:
    """Whether the picamera2 module is importable here."""
    return importlib.util.find_spec("picamera2") is not None


class Picamera2Capture:
    """Picamera2 as a VideoCapture: `read(out)` gives the newest lores frame as BGR (or gray)."""

    def __init__(self, index: int, size: tuple[int, int] | None = None,
                 fps: float | None = None, gray: bool = False) -> None:
        if not picamera2_available():
            raise UserError(INSTALL_HINT)
        from picamera2 import Picamera2

        found = len(Picamera2.global_camera_info())
        if index >= found:
            raise UserError(f"no Pi camera {index}: Picamera2 sees {found} camera(s)")
        width, height = size or LORES_SIZE
        self._camera, self.gray = Picamera2(index), gray
        try:
            config = self._camera.create_video_configuration(
                lores={"size": (width, height), "format": "YUV420"},
                controls={"FrameRate": fps} if fps else {})
            self._camera.align_configuration(config)  # sizes the ISP takes without padding
            self._camera.configure(config)
            self._camera.start()
        except Exception as exc:  # libcamera's errors are plain RuntimeErrors and its own
            self._camera.close()
            raise UserError(f"cannot start Pi camera {index}: {exc}") from None

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        """Always: a camera that cannot start raises in the constructor."""
        return True

    def read(self, out: np.ndarray | None = None) -> tuple[bool, np.ndarray | None]:
        """(True, BGR frame, or the Y plane when gray), written into `out` when it fits.

        (False, None) when the camera stopped delivering: the reader then reopens it.
        """
        try:
            yuv = self._camera.capture_array("lores")
        except Exception:  # a camera unplugged or a pipeline error: a lost source
            return False, None
        height = yuv.shape[0] * 2 // 3
        if self.gray:  # I420: the first `height` rows are Y, the luma
            fits = out is not None and out.shape == (height, yuv.shape[1])
            return True, cv2.LUT(yuv[:height], VIDEO_TO_FULL_RANGE, dst=out if fits else None)
        fits = out is not None and out.shape == (height, yuv.shape[1], 3)
        return True, cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420, dst=out if fits else None)

    def release(self) -> None:
        """Stop and close the camera."""
        try:
            self._camera.stop()
        finally:
            self._camera.close()
