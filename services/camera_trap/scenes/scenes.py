"""Composes the camera trap's scenes from photographs shipped inside scikit-image.

    scenes.py --frames frames.bin --index scenes.json --reference reference.hpp --model model.hpp \
              --scenes scenes.hpp --model-json model.json

Every output is a pure function of the pinned packages (scikit-image, numpy): no timestamps,
fixed seeds, sorted JSON keys, so two runs give the same bytes. What is composed, and the
formats, are described in README.md next to this file.
"""

from __future__ import annotations

import argparse
import base64
import importlib.resources
import json
import math
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import skimage.io
import skimage.transform

WIDTH = 320
HEIGHT = 240
CHANNELS = 3
FRAME_BYTES = WIDTH * HEIGHT * CHANNELS

MAGIC = b"ACTF"
VERSION = 1
HEADER_BYTES = 32

# Detection works on 4x4 blocks of luma (80x60), recognition on 2x2 blocks of RGB (160x120).
DETECT_FACTOR = 4
RECOGNISE_FACTOR = 2

SPECIES = {"cat": 1, "horse": 2, "human": 3}
# The features recognition computes on a foreground blob (same order as in recognition.cc).
FEATURES = ["red_chroma", "green_chroma", "brightness", "saturation", "aspect", "fill"]

U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


def photograph(name: str) -> U8:
    """A photograph of skimage/data, read from the installed package (never downloaded)."""
    path = importlib.resources.files("skimage") / "data" / name
    with importlib.resources.as_file(path) as file:
        image = skimage.io.imread(str(file))
    return np.asarray(image)


def resize(image: F64, height: int, width: int) -> F64:
    out = skimage.transform.resize(  # type: ignore[no-untyped-call]
        image, (height, width), order=1, anti_aliasing=True, preserve_range=True
    )
    return np.asarray(out, dtype=np.float64)


def to_u8(image: F64) -> U8:
    return np.asarray(np.clip(np.rint(image), 0, 255), dtype=np.uint8)


# ------------------------------------------------------------------------------------ background


def background() -> F64:
    """Grass (grass.png, tinted green) with a gravel path (gravel.png) along the bottom."""
    grass = resize(photograph("grass.png")[:384, :].astype(np.float64), HEIGHT, WIDTH)
    gravel = resize(photograph("gravel.png")[:192, :].astype(np.float64), 48, WIDTH)
    tint_grass = np.array([0.42, 0.78, 0.28])
    tint_gravel = np.array([0.80, 0.74, 0.64])
    scene = grass[:, :, None] * tint_grass + np.array([12.0, 28.0, 6.0])
    path = gravel[:, :, None] * tint_gravel + np.array([30.0, 28.0, 22.0])
    # The path's upper edge is a soft ramp, so it is part of the ground texture, not a shape.
    ramp = np.clip((np.arange(48, dtype=np.float64) - 4.0) / 10.0, 0.0, 1.0)[:, None, None]
    scene[HEIGHT - 48 :] = scene[HEIGHT - 48 :] * (1.0 - ramp) + path * ramp
    return np.asarray(scene, dtype=np.float64)


# --------------------------------------------------------------------------------------- animals


@dataclass(frozen=True)
class Sprite:
    """An animal cut out of a photograph: RGB (float) and its coverage in [0, 1]."""

    rgb: F64
    alpha: F64


def ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> Mask:
    y, x = np.mgrid[0:h, 0:w]
    return np.asarray(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0)


def triangle(h: int, w: int, a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> Mask:
    """Points (x, y) inside the triangle abc."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)

    def side(p: tuple[float, float], q: tuple[float, float]) -> F64:
        return np.asarray((q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0]))

    s1, s2, s3 = side(a, b), side(b, c), side(c, a)
    return np.asarray(((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0)))


def cat_sprite() -> Sprite:
    """Chelsea the cat (chelsea.png): her head, cut out along an ellipse with two ears."""
    rgb = photograph("chelsea.png")[:, :, :3].astype(np.float64)
    h, w = rgb.shape[:2]
    mask = ellipse(h, w, 170.0, 220.0, 128.0, 190.0)
    mask |= triangle(h, w, (60.0, 4.0), (28.0, 120.0), (150.0, 70.0))
    mask |= triangle(h, w, (372.0, 4.0), (290.0, 70.0), (415.0, 120.0))
    return Sprite(rgb, mask.astype(np.float64))


def horse_sprite() -> Sprite:
    """The horse silhouette (horse.png), its coat a dark bay shaded by gravel.png's texture."""
    # Black horse on white, anti-aliased (RGBA): darkness is coverage.
    alpha = 1.0 - photograph("horse.png")[:, :, 0].astype(np.float64) / 255.0
    h, w = alpha.shape
    shade = resize(photograph("gravel.png").astype(np.float64), h, w)
    shade = 0.75 + 0.4 * (shade - shade.min()) / max(1.0, float(shade.max() - shade.min()))
    rgb = shade[:, :, None] * np.array([112.0, 70.0, 42.0])
    return Sprite(rgb, alpha)


def human_sprite() -> Sprite:
    """Eileen Collins (astronaut.png): head, neck and suited torso, cut out of the portrait."""
    rgb = photograph("astronaut.png")[:, 20:420, :3].astype(np.float64)
    h, w = rgb.shape[:2]
    mask = ellipse(h, w, 92.0, 208.0, 78.0, 60.0)
    mask |= ellipse(h, w, 205.0, 208.0, 62.0, 92.0)
    torso = ellipse(h, w, 420.0, 195.0, 190.0, 180.0)
    torso[:, 360:] = False
    mask |= torso
    return Sprite(rgb, mask.astype(np.float64))


SPRITES: dict[str, Callable[[], Sprite]] = {"cat": cat_sprite, "horse": horse_sprite, "human": human_sprite}


@dataclass(frozen=True)
class Placement:
    species: str
    height: int  # sprite height in frame pixels
    cx: int  # horizontal centre
    bottom: int  # row below the sprite's lowest row
    mirror: bool = False


def compose(ground: F64, sprite: Sprite, place: Placement) -> tuple[F64, Mask]:
    """`ground` with the sprite pasted in; also the sprite's mask (alpha >= 0.5) in the frame."""
    sh, sw = sprite.alpha.shape
    height = place.height
    width = max(1, round(sw * height / sh))
    rgb = resize(sprite.rgb, height, width)
    alpha = np.clip(resize(sprite.alpha, height, width), 0.0, 1.0)
    if place.mirror:
        rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
    top, left = place.bottom - height, place.cx - width // 2
    if top < 0 or left < 0 or place.bottom > HEIGHT or left + width > WIDTH:
        raise ValueError(f"{place}: the sprite ({width}x{height}) does not fit in the frame")
    out = ground.copy()
    window = out[top : top + height, left : left + width]
    window[:] = window * (1.0 - alpha[:, :, None]) + rgb * alpha[:, :, None]
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[top : top + height, left : left + width] = alpha >= 0.5
    return out, mask


# ---------------------------------------------------------------------------------------- scenes


def lighting(scale: float, tint: Sequence[float] = (1.0, 1.0, 1.0)) -> Callable[[F64], F64]:
    return lambda image: image * scale * np.asarray(tint)


def noise(sigma: float, seed: int) -> Callable[[F64], F64]:
    def apply(image: F64) -> F64:
        rng = np.random.default_rng(seed)
        return np.asarray(image + rng.normal(0.0, sigma, image.shape))

    return apply


def shift(dx: int, dy: int) -> Callable[[F64], F64]:
    """The camera wobbled: the view moves by (dx, dy) pixels, edges repeat."""

    def apply(image: F64) -> F64:
        padded = np.pad(image, ((abs(dy), abs(dy)), (abs(dx), abs(dx)), (0, 0)), mode="edge")
        y0, x0 = abs(dy) - dy, abs(dx) - dx
        return np.asarray(padded[y0 : y0 + HEIGHT, x0 : x0 + WIDTH])

    return apply


def leaves(count: int, seed: int) -> Callable[[F64], F64]:
    """Small leaves blown into the view: ellipses of 2-5 pixels, brown and yellow-green."""

    def apply(image: F64) -> F64:
        rng = np.random.default_rng(seed)
        out = image.copy()
        colours = np.array([[120.0, 90.0, 40.0], [150.0, 160.0, 60.0], [90.0, 60.0, 30.0]])
        for _ in range(count):
            cy, cx = float(rng.uniform(10, HEIGHT - 10)), float(rng.uniform(10, WIDTH - 10))
            ry, rx = float(rng.uniform(1.5, 2.5)), float(rng.uniform(2.0, 4.0))
            leaf = ellipse(HEIGHT, WIDTH, cy, cx, ry, rx)
            out[leaf] = colours[int(rng.integers(0, len(colours)))]
        return out

    return apply


@dataclass(frozen=True)
class Scene:
    name: str
    animal: Placement | None = None
    effects: tuple[Callable[[F64], F64], ...] = ()


def scene_list() -> list[Scene]:
    """The frame store, in scene-id order (a MotionEvent's `scene` indexes it)."""
    return [
        Scene("empty_reference"),
        Scene("empty_dusk", effects=(lighting(0.6),)),
        Scene("empty_sun", effects=(lighting(1.3, (1.05, 1.0, 0.92)),)),
        Scene("empty_noise", effects=(noise(10.0, 11),)),
        Scene("empty_wobble", effects=(shift(2, 1),)),
        Scene("empty_leaves", effects=(leaves(12, 12),)),
        Scene("empty_dusk_noise", effects=(lighting(0.7), noise(8.0, 13))),
        Scene("cat_near", Placement("cat", 150, 160, 230)),
        Scene("cat_left", Placement("cat", 90, 70, 200)),
        Scene("cat_far_right", Placement("cat", 48, 270, 150)),
        Scene("cat_dusk", Placement("cat", 110, 200, 220), (lighting(0.65), noise(6.0, 21))),
        Scene("horse_side", Placement("horse", 140, 160, 235)),
        Scene("horse_left_far", Placement("horse", 80, 90, 180, mirror=True)),
        Scene("horse_right_sun", Placement("horse", 110, 230, 238), (lighting(1.25),)),
        Scene("horse_noise", Placement("horse", 100, 150, 210), (noise(10.0, 31),)),
        Scene("human_centre", Placement("human", 200, 160, 240)),
        Scene("human_left", Placement("human", 130, 80, 235)),
        Scene("human_far", Placement("human", 70, 250, 170, mirror=True)),
        Scene("human_dusk_wobble", Placement("human", 160, 200, 240), (shift(-2, 1), lighting(0.7))),
    ]


def training_placements() -> list[Placement]:
    """Where the recognition model's examples stand: other sizes and places than the scenes."""
    rng = np.random.default_rng(2026)
    out = []
    for species in SPECIES:
        for i in range(8):
            height = int(rng.integers(60, 181))
            sprite_aspect = {"cat": 451 / 300, "horse": 400 / 328, "human": 400 / 512}[species]
            half = int(height * sprite_aspect / 2) + 2
            cx = int(rng.integers(half, WIDTH - half))
            bottom = int(rng.integers(height, HEIGHT + 1))
            out.append(Placement(species, height, cx, bottom, mirror=bool(i % 2)))
    return out


def render(ground: F64, scene: Scene) -> tuple[U8, Mask | None]:
    image, mask = ground, None
    if scene.animal is not None:
        image, mask = compose(ground, SPRITES[scene.animal.species](), scene.animal)
    for effect in scene.effects:
        image = effect(image)
    return to_u8(image), mask


# ----------------------------------------------------------------------- what the services use


def block_mean(channel: npt.NDArray[np.int64], factor: int) -> npt.NDArray[np.int64]:
    """Mean of factor x factor blocks, rounded half up, exactly as imaging/foreground.hpp does."""
    h, w = channel.shape
    sums = channel.reshape(h // factor, factor, w // factor, factor).sum(axis=(1, 3))
    n = factor * factor
    return np.asarray((sums + n // 2) // n)


def block_means(frame: U8, factor: int) -> U8:
    """The frame's block means, RGB row-major: what the services compare with the reference."""
    f = frame.astype(np.int64)
    planes = [block_mean(f[:, :, c], factor) for c in range(CHANNELS)]
    return np.stack(planes, axis=-1).astype(np.uint8)


def blob_features(cells: U8, mask: Mask) -> list[float]:
    """The features recognition.cc computes for the foreground `mask` of a frame's blocks.

    Chromaticities and saturation are of the blob's mean colour; brightness is the blob's mean
    luma over the rest of the frame's (so lighting changes cancel); aspect is the bounding box's
    height / width; fill is the blob's share of its bounding box.
    """
    rows, cols = np.nonzero(mask)
    fg = cells[mask].astype(np.float64).mean(axis=0)
    bg = cells[~mask].astype(np.float64).mean(axis=0)
    total = max(1.0, float(fg.sum()))
    y_fg = float(77 * fg[0] + 150 * fg[1] + 29 * fg[2]) / 256
    y_bg = float(77 * bg[0] + 150 * bg[1] + 29 * bg[2]) / 256
    hi, lo = float(fg.max()), float(fg.min())
    height = int(rows.max() - rows.min() + 1)
    width = int(cols.max() - cols.min() + 1)
    return [
        float(fg[0]) / total,
        float(fg[1]) / total,
        y_fg / max(1.0, y_bg),
        (hi - lo) / max(1.0, hi),
        height / width,
        float(mask.sum()) / (height * width),
    ]


@dataclass(frozen=True)
class Model:
    centroids: dict[str, list[float]]
    scale: list[float]


def train(ground: F64) -> Model:
    """Nearest-centroid model: per species the mean feature vector of its training examples,
    features scaled by their spread across all examples (so no feature dominates by units)."""
    examples: dict[str, list[list[float]]] = {s: [] for s in SPECIES}
    for place in training_placements():
        image, mask = compose(ground, SPRITES[place.species](), place)
        cells = block_means(to_u8(image), RECOGNISE_FACTOR)
        f = RECOGNISE_FACTOR
        # A block belongs to the animal if at least half its pixels do.
        cell_mask = mask.reshape(HEIGHT // f, f, WIDTH // f, f).sum(axis=(1, 3)) * 2 >= f * f
        examples[place.species].append(blob_features(cells, cell_mask))
    every = np.array([v for vs in examples.values() for v in vs])
    scale = [float(max(s, 1e-3)) for s in every.std(axis=0)]
    centroids = {s: [float(x) for x in np.array(vs).mean(axis=0)] for s, vs in examples.items()}
    return Model(centroids, scale)


# --------------------------------------------------------------------------------------- outputs


def frame_store(frames: Sequence[U8]) -> bytes:
    header = struct.pack("<4sHHHHBBHI", MAGIC, VERSION, len(frames), WIDTH, HEIGHT, CHANNELS, 0, 0, FRAME_BYTES)
    header += struct.pack("<I", HEADER_BYTES) + bytes(HEADER_BYTES - len(header) - 4)
    assert len(header) == HEADER_BYTES
    return header + b"".join(f.tobytes() for f in frames)


def c_array(name: str, data: bytes, per_line: int = 24) -> str:
    lines = []
    for i in range(0, len(data), per_line):
        lines.append("    " + ", ".join(str(b) for b in data[i : i + per_line]) + ",")
    return f"inline constexpr std::uint8_t {name}[{len(data)}] = {{\n" + "\n".join(lines) + "\n};\n"


GENERATED = "// Generated by services/camera_trap/scenes/scenes.py from scikit-image's photographs; do not edit.\n"


def reference_header(ground: U8) -> str:
    det = block_means(ground, DETECT_FACTOR)
    rec = block_means(ground, RECOGNISE_FACTOR)
    return (
        GENERATED
        + "// The empty scene (scene 0) as the services see it: the means of its 4x4 blocks (detection)\n"
        + "// and of its 2x2 blocks (recognition), RGB row-major.\n"
        + "#pragma once\n\n#include <cstdint>\n\nnamespace camera_trap::scenes {\n\n"
        + f"inline constexpr int kFrameWidth = {WIDTH};\ninline constexpr int kFrameHeight = {HEIGHT};\n"
        + f"inline constexpr int kFrameChannels = {CHANNELS};\n"
        + f"inline constexpr int kDetectFactor = {DETECT_FACTOR};\n"
        + f"inline constexpr int kDetectWidth = {WIDTH // DETECT_FACTOR};\n"
        + f"inline constexpr int kDetectHeight = {HEIGHT // DETECT_FACTOR};\n"
        + f"inline constexpr int kRecogniseFactor = {RECOGNISE_FACTOR};\n"
        + f"inline constexpr int kRecogniseWidth = {WIDTH // RECOGNISE_FACTOR};\n"
        + f"inline constexpr int kRecogniseHeight = {HEIGHT // RECOGNISE_FACTOR};\n\n"
        + c_array("kDetectReference", det.tobytes())
        + "\n"
        + c_array("kRecogniseReference", rec.tobytes())
        + "\n}  // namespace camera_trap::scenes\n"
    )


def model_float(v: float) -> str:
    """A model parameter as both model outputs give it: 7 significant digits."""
    return f"{v:.6e}"


def model_header(model: Model) -> str:
    def floats(values: Sequence[float]) -> str:
        return "{" + ", ".join(f"{model_float(v)}f" for v in values) + "}"

    rows = "\n".join(
        f"    {{{SPECIES[s]}, {floats(model.centroids[s])}}},  // {s}"
        for s in sorted(SPECIES, key=lambda name: SPECIES[name])
    )
    return (
        GENERATED
        + "// Recognition's nearest-centroid model: per species the mean of its training examples'\n"
        + "// features ("
        + ", ".join(FEATURES)
        + "), and each feature's spread.\n"
        + "#pragma once\n\n#include <cstdint>\n\nnamespace camera_trap::scenes {\n\n"
        + f"inline constexpr int kFeatureCount = {len(FEATURES)};\n"
        + f"inline constexpr int kSpeciesCount = {len(SPECIES)};\n\n"
        + "struct Centroid {\n  std::uint8_t species;  // camera_trap::Species\n"
        + "  float features[kFeatureCount];\n};\n\n"
        + f"inline constexpr float kFeatureScale[kFeatureCount] = {floats(model.scale)};\n\n"
        + f"inline constexpr Centroid kCentroids[kSpeciesCount] = {{\n{rows}\n}};\n"
        + "\n}  // namespace camera_trap::scenes\n"
    )


def model_json(model: Model, ground: U8) -> str:
    """model.hpp's model and reference.hpp's recognition reference, for services in Python: the
    very numbers the C++ compiles in (rounded alike), so both give the same species."""
    f = RECOGNISE_FACTOR
    doc = {
        "features": FEATURES,
        "feature_scale": [float(model_float(v)) for v in model.scale],
        "centroids": [
            {"species": s, "code": SPECIES[s], "features": [float(model_float(v)) for v in model.centroids[s]]}
            for s in sorted(SPECIES, key=lambda name: SPECIES[name])
        ],
        "reference": {
            "factor": f,
            "width": WIDTH // f,
            "height": HEIGHT // f,
            "rgb_base64": base64.b64encode(block_means(ground, f).tobytes()).decode("ascii"),
        },
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def scenes_header(scenes: Sequence[Scene]) -> str:
    rows = []
    for i, scene in enumerate(scenes):
        species = scene.animal.species if scene.animal else "unknown"
        animal = "true" if scene.animal else "false"
        rows.append(f'    {{"{scene.name}", {animal}, {SPECIES.get(species, 0)}}},  // {i}')
    return (
        GENERATED
        + "// The frame store's scenes (frames.bin, in this order) and what each one shows.\n"
        + "#pragma once\n\n#include <cstdint>\n\nnamespace camera_trap::scenes {\n\n"
        + "struct SceneInfo {\n  const char* name;\n  bool animal;\n"
        + "  std::uint8_t species;  // camera_trap::Species\n};\n\n"
        + f"inline constexpr int kSceneCount = {len(scenes)};\n"
        + "inline constexpr SceneInfo kScenes[kSceneCount] = {\n"
        + "\n".join(rows)
        + "\n};\n"
        + "\n}  // namespace camera_trap::scenes\n"
    )


def index(scenes: Sequence[Scene]) -> str:
    entries = {}
    for i, scene in enumerate(scenes):
        species = scene.animal.species if scene.animal else "unknown"
        entries[str(i)] = {"name": scene.name, "animal": scene.animal is not None, "species": species}
    doc = {
        "format": {
            "magic": MAGIC.decode(),
            "version": VERSION,
            "header_bytes": HEADER_BYTES,
            "width": WIDTH,
            "height": HEIGHT,
            "channels": CHANNELS,
            "frame_bytes": FRAME_BYTES,
        },
        "count": len(scenes),
        "scenes": entries,
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--scenes", type=Path, required=True, help="C++ header: the scene table")
    parser.add_argument("--model-json", type=Path, required=True, help="the model and reference, JSON")
    args = parser.parse_args(argv)
    ground = background()
    scenes = scene_list()
    frames = [render(ground, s)[0] for s in scenes]
    if not math.isclose(float(np.abs(frames[0].astype(np.int64) - to_u8(ground)).max()), 0.0):
        raise AssertionError("scene 0 must be the reference background")
    args.frames.write_bytes(frame_store(frames))
    args.index.write_text(index(scenes))
    args.scenes.write_text(scenes_header(scenes))
    args.reference.write_text(reference_header(frames[0]))
    model = train(ground)
    args.model.write_text(model_header(model))
    args.model_json.write_text(model_json(model, frames[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
