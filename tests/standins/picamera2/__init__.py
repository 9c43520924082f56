"""A stand-in for Picamera2, the Raspberry Pi camera library, which cannot run off a Pi.

It implements the part of Picamera2's documented API edgeae's adapter uses (runtime/picamera.py)
with the same shapes: `capture_array("lores")` of a YUV420 lores stream is a (height * 3 / 2,
width) uint8 array. The frames are a pattern that moves one pixel per frame. After
`FAIL_AFTER` frames one capture raises, as an unplugged camera does. `LOG` records what the
adapter asked for, `LAST` the array the last capture returned.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

FAIL_AFTER = 20  # frames, then one capture fails; None: never
CAMERAS = [{"Model": "imx708", "Location": 2, "Rotation": 0, "Id": "stand-in", "Num": 0}]
LOG: list[tuple] = []
LAST: list[np.ndarray] = []  # the last captured array


class Picamera2:
    """The camera: configured, started, captured from, stopped and closed."""

    @staticmethod
    def global_camera_info() -> list[dict]:
        return CAMERAS

    def __init__(self, camera_num: int = 0) -> None:
        LOG.append(("open", camera_num))
        self._config, self._started, self._count = None, False, 0

    def create_video_configuration(self, main=None, lores=None, controls=None, **_) -> dict:
        return {"main": {"size": (1280, 720), "format": "XBGR8888", **(main or {})},
                "lores": dict(lores) if lores else None, "controls": dict(controls or {})}

    def align_configuration(self, config: dict) -> None:
        width, height = config["lores"]["size"]
        config["lores"]["size"] = (width - width % 32, height - height % 2)

    def configure(self, config: dict) -> None:
        LOG.append(("configure", config))
        self._config = config

    def start(self) -> None:
        self._started = True

    def capture_array(self, name: str = "main") -> np.ndarray:
        assert self._started, "capture before start()"
        global FAIL_AFTER
        self._count += 1
        if FAIL_AFTER is not None and self._count > FAIL_AFTER:
            FAIL_AFTER = None
            raise RuntimeError("Camera frontend has timed out!")
        LOG.append(("capture", name))
        time.sleep(1 / self._config["controls"].get("FrameRate", 30))  # the sensor's pace
        width, height = self._config[name]["size"]
        pattern = np.roll(np.tile(np.arange(width, dtype=np.uint8) * 4, (height, 1)),
                          self._count, axis=1)
        bgr = cv2.merge([pattern, pattern[::-1], np.full_like(pattern, 128)])
        LAST[:] = [cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)]
        return LAST[0]

    def stop(self) -> None:
        self._started = False

    def close(self) -> None:
        LOG.append(("close",))
