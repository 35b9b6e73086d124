"""The camera trap's recognition stage in Python: which animal is in this frame?

The same method and the same numbers as the C++ `//services/recognition` (its README.md):
the foreground of services/camera_trap/imaging/foreground.hpp on 2x2 blocks, six features of
the largest blob, the nearest centroid of scenes.py's model (model.json, the very numbers
model.hpp compiles in). numpy reads the frame where the caller put it (a read-only memoryview
over the caller's arena): the block means are the first and only pass over its bytes.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lidl.runtime.codec import RemoteError, UnionValue
from services.camera_trap import camera_trap_lidl as ct
from services.database import database_lidl as db

WIDTH, HEIGHT, CHANNELS = 320, 240, 3
FRAME_BYTES = WIDTH * HEIGHT * CHANNELS
FACTOR = 2
BW, BH = WIDTH // FACTOR, HEIGHT // FACTOR
CELLS = BW * BH

# As in recognition.hpp: smaller blobs are not an animal; farther from every centroid (in
# feature spreads) is not a known species; how far a typical member lies from its centroid.
MIN_BLOB_BLOCKS = 96
MAX_DISTANCE = np.float32(4.0)
TYPICAL_SPREAD = np.float32(2.0)
# foreground.hpp's Tuning::threshold: luma levels, or chroma units x2.
THRESHOLD = 32

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

# Next to this module in the runfiles: services/camera_trap/scenes/model.json (scenes.py).
MODEL_PATH = Path(__file__).parent.parent.parent / "camera_trap" / "scenes" / "model.json"


@dataclass(frozen=True)
class Model:
    scale: npt.NDArray[np.float32]  # per feature
    centroids: npt.NDArray[np.float32]  # species x feature
    species: tuple[ct.Species, ...]
    # The empty scene's 2x2 blocks, as foreground.hpp's Reference: luma and chromaticity.
    ref_luma: I64
    ref_r: I64
    ref_g: I64


def luma(c: I64) -> I64:
    """Integer luma of RGB block means (BT.601 /256, rounded), as imaging::luma."""
    return np.asarray((77 * c[..., 0] + 150 * c[..., 1] + 29 * c[..., 2] + 128) >> 8)


def chroma(c: I64) -> tuple[I64, I64]:
    """r/(r+g+b) and g/(r+g+b) scaled to 0..255, truncated, as imaging::chroma."""
    total = c[..., 0] + c[..., 1] + c[..., 2] + 1
    return np.asarray(c[..., 0] * 255 // total), np.asarray(c[..., 1] * 255 // total)


def load_model(path: Path) -> Model:
    doc = json.loads(path.read_text())
    ref = doc["reference"]
    if (ref["factor"], ref["width"], ref["height"]) != (FACTOR, BW, BH):
        raise ValueError(f"{path}: the reference is not of {BW}x{BH} blocks of {FACTOR}x{FACTOR}")
    rgb = np.frombuffer(base64.b64decode(ref["rgb_base64"]), dtype=np.uint8)
    if rgb.size != CELLS * 3:
        raise ValueError(f"{path}: the reference has {rgb.size} bytes, not {CELLS * 3}")
    cells = rgb.reshape(BH, BW, 3).astype(np.int64)
    r, g = chroma(cells)
    cents = doc["centroids"]
    return Model(
        scale=np.array(doc["feature_scale"], dtype=np.float32),
        centroids=np.array([c["features"] for c in cents], dtype=np.float32),
        species=tuple(ct.Species(c["code"]) for c in cents),
        ref_luma=luma(cells),
        ref_r=r,
        ref_g=g,
    )


# Read before the group's sandbox closes (it refuses files afterwards).
MODEL = load_model(MODEL_PATH)
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def block_means(frame: U8) -> I64:
    """The frame's 2x2 block means, rounded half up (imaging::block_mean): BH x BW x 3."""
    sums = frame.reshape(BH, FACTOR, BW, FACTOR, CHANNELS).sum(axis=(1, 3), dtype=np.int64)
    n = FACTOR * FACTOR
    return np.asarray((sums + n // 2) // n)


def neighbours(a: I64, fill: int) -> list[I64]:
    """The 3x3 neighbourhood of every block: 9 shifted copies, `fill` outside the frame."""
    p = np.pad(a, 1, constant_values=fill)
    return [p[1 + dy : 1 + dy + BH, 1 + dx : 1 + dx + BW] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def gain_over(ref_luma: I64, cur_luma: I64, exclude: Mask | None) -> int:
    """Reference luma / frame luma (16.16) over the blocks not excluded, at most 16."""
    keep = np.ones_like(cur_luma, dtype=bool) if exclude is None else ~exclude
    ref, cur = int(ref_luma[keep].sum()), int(cur_luma[keep].sum())
    if cur == 0:
        return 1 << 16
    return min((ref << 16) // cur, 16 << 16)


@dataclass
class Blob:
    area: int = 0
    x0: int = 0
    y0: int = 0
    x1: int = 0
    y1: int = 0
    mask: Mask = field(default_factory=lambda: np.zeros((BH, BW), dtype=bool))

    def width(self) -> int:
        return 0 if self.area == 0 else self.x1 - self.x0 + 1

    def height(self) -> int:
        return 0 if self.area == 0 else self.y1 - self.y0 + 1


def segment(cells: I64, model: Model) -> Blob:
    """foreground.hpp's Foreground::segment on the block means: the largest changed blob."""
    cur_luma = luma(cells)
    cur_r, cur_g = chroma(cells)

    def changed(gain: int, jitter: bool) -> Mask:
        y = np.minimum((cur_luma * gain) >> 16, 255)
        if not jitter:
            dl = np.abs(y - model.ref_luma)
            dc = 2 * (np.abs(cur_r - model.ref_r) + np.abs(cur_g - model.ref_g))
            return np.asarray(np.maximum(dl, dc) > THRESHOLD)
        # The least difference to the reference block or one of its 8 neighbours (a wobble).
        far = 1 << 20
        refs = (neighbours(model.ref_luma, far), neighbours(model.ref_r, far), neighbours(model.ref_g, far))
        best = np.full((BH, BW), far, dtype=np.int64)
        for rl, rr, rg in zip(*refs, strict=True):
            d = np.maximum(np.abs(y - rl), 2 * (np.abs(cur_r - rr) + np.abs(cur_g - rg)))
            best = np.minimum(best, d)
        return np.asarray(best > THRESHOLD)

    # First the gain over the whole frame to see roughly what changed, then over what did not.
    gain = gain_over(model.ref_luma, cur_luma, None)
    mask = changed(gain, False)
    if int((~mask).sum()) >= CELLS // 4:
        gain = gain_over(model.ref_luma, cur_luma, mask)
    mask = changed(gain, True)

    def morph(m: Mask, erode: bool) -> Mask:
        # Outside the frame counts as unset: an erosion clears the border, a dilation ignores it.
        shifted = neighbours(m.astype(np.int64), 0)
        stack = np.stack(shifted)
        return np.asarray(stack.all(axis=0) if erode else stack.any(axis=0))

    mask = morph(morph(morph(morph(mask, True), False), False), True)

    labels, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
    if count == 0:
        return Blob()
    flat = labels.ravel()
    areas = np.bincount(flat, minlength=count + 1)[1:]
    # The C++ scans in row-major order and keeps the first of equal largest blobs.
    firsts = np.full(count + 1, CELLS, dtype=np.int64)
    np.minimum.at(firsts, flat, np.arange(CELLS))
    biggest = int(areas.max())
    label = 1 + min((i for i in range(count) if areas[i] == biggest), key=lambda i: int(firsts[i + 1]))
    blob_mask = labels == label
    rows, cols = np.nonzero(blob_mask)
    return Blob(biggest, int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max()), blob_mask)


@dataclass
class Classification:
    species: ct.Species = ct.Species.unknown
    confidence: float = 0.0
    distance: float = 0.0
    features: list[float] = field(default_factory=lambda: [0.0] * 6)
    blob: Blob = field(default_factory=Blob)


def luma_of(c: npt.NDArray[np.float64]) -> np.float32:
    return np.float32((77.0 * c[0] + 150.0 * c[1] + 29.0 * c[2]) / 256.0)


def classify(frame: U8, model: Model = MODEL) -> Classification:
    """recognition.cc's Recognition::classify, in the same float widths (frame: HxWx3 uint8)."""
    c = Classification()
    cells = block_means(frame)
    blob = c.blob = segment(cells, model)
    if blob.area < MIN_BLOB_BLOCKS:
        return c
    fg = cells[blob.mask].sum(axis=0).astype(np.float64) / blob.area
    bg_count = CELLS - blob.area
    bg = np.zeros(3) if bg_count == 0 else cells[~blob.mask].sum(axis=0).astype(np.float64) / bg_count
    total = max(1.0, float(fg[0] + fg[1] + fg[2]))
    hi, lo = np.float32(fg.max()), np.float32(fg.min())
    one = np.float32(1.0)
    w, h = np.float32(blob.width()), np.float32(blob.height())
    features = np.array(
        [
            np.float32(fg[0] / total),
            np.float32(fg[1] / total),
            luma_of(fg) / max(one, luma_of(bg)),
            (hi - lo) / max(one, hi),
            h / w,
            np.float32(blob.area) / np.float32(blob.width() * blob.height()),
        ],
        dtype=np.float32,
    )
    c.features = [float(v) for v in features]

    # Nearest centroid in feature spreads; the first of equal distances wins, as in C++.
    d = (features[None, :] - model.centroids) / model.scale[None, :]
    dist = np.sqrt((d * d).sum(axis=1, dtype=np.float32), dtype=np.float32)
    best = int(np.argmin(dist))
    nearest = dist[best]
    c.distance = float(nearest)
    if nearest > MAX_DISTANCE:
        return c
    # Relative to the nearest, so exp never underflows to 0/0.
    weights = np.exp(np.float32(-0.5) * (dist * dist - nearest * nearest), dtype=np.float32).sum(dtype=np.float32)
    c.species = model.species[best]
    # Its share among the species, times how typical the blob is of it.
    typical = np.exp(-nearest * nearest / (np.float32(2.0) * TYPICAL_SPREAD * TYPICAL_SPREAD), dtype=np.float32)
    c.confidence = float((one / weights) * typical)
    return c


def frame_of(pixels: memoryview) -> U8:
    """The frame as an HxWx3 array over the caller's bytes (in place: never a copy)."""
    return np.frombuffer(pixels, dtype=np.uint8).reshape(HEIGHT, WIDTH, CHANNELS)


def elapsed_us(since_ns: int) -> int:
    return min((time.monotonic_ns() - since_ns) // 1000, 0xFFFFFFFF)


def say(line: str) -> None:
    print(f"[recognition] {line}", flush=True)


class Recognition(ct.FrameHandlerAsync):
    """camera_trap.FrameHandler: classifies the frame, appends the sighting to `log`."""

    def __init__(self, log: db.SightingLogAsync) -> None:
        self.log = log

    async def handle(self, info: ct.FrameInfo, pixels: memoryview) -> ct.Outcome:
        start = time.monotonic_ns()
        out = ct.Outcome(event_id=info.event_id, captured=True, detected=True)
        if (info.width, info.height, info.channels, len(pixels)) != (WIDTH, HEIGHT, CHANNELS, FRAME_BYTES):
            say(
                f"event {info.event_id}: frame {info.width}x{info.height}x{info.channels} ({len(pixels)} bytes)"
                " is not 320x240 RGB8; not stored"
            )
            out.trace.recognition_us = elapsed_us(start)
            return out
        c = classify(frame_of(pixels))
        out.species, out.confidence = c.species, c.confidence

        sighting = db.Sighting(
            event_id=info.event_id, species=c.species, confidence=c.confidence, taken_at_ms=info.taken_at_ms
        )
        append_start = time.monotonic_ns()
        out.trace.recognition_work_us = elapsed_us(start)
        try:
            appended: UnionValue | None = await self.log.append(sighting)
        except RemoteError as e:  # a failed call (the C++ client returns id 0 instead)
            appended = None
            say(f"event {info.event_id}: the log did not answer ({e}); not stored")
        out.trace.database_us = elapsed_us(append_start)
        if appended is not None and appended.tag == "id" and appended.value != 0:
            out.stored_id = int(appended.value)
        else:
            out.failed = ct.Stage.database
            if appended is not None and appended.tag == "id":
                say(f"event {info.event_id}: the log did not answer; not stored")
            elif appended is not None:
                why = "storage full" if appended.value == db.StoreError.storage_full else "storage failed"
                say(f"event {info.event_id}: the log refused the sighting ({why})")
        out.trace.recognition_us = elapsed_us(start)
        return out
