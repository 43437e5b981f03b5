"""Data sets: 2D and 1D toy distributions and small image sets, as float32 torch tensors.

Toys (``toy(name, n, seed=...)``) are n independent draws, of shape (n, 2), or (n, 1) for
the 1D mixtures, scaled to sit in roughly [-4, 4] per coordinate:

- ``moons``, ``rings``, ``swissroll``: scikit-learn's ``make_moons``, ``make_circles`` and
  ``make_swiss_roll`` (its (x, z) plane), centred and scaled.
- ``8gaussians``: eight Normal(c_k, s^2 I) with centres c_k = R (cos(k pi/4), sin(k pi/4)).
- ``checkerboard``: uniform on the black squares of a 4x4 board covering [-4, 4]^2.
- ``pinwheel``: K arms; a point of arm k is (a, b) ~ Normal((1, 0), diag(s_a^2, s_b^2))
  rotated by the angle 2 pi k / K + rate * exp(a), then scaled.
- ``spirals``: two interleaved Archimedean spirals r = R t / t_max, angle t, the second one
  rotated by pi, with Normal noise.
- ``gmm1d``, ``gmm1d_skewed``, ``gmm1d_three``: 1D mixtures sum_k w_k Normal(m_k, s_k^2),
  for pictures of field lines in the (x, z) plane.

Images are (n, 1, H, W) with pixel values mapped affinely onto [-1, 1]:

- ``digits``: scikit-learn's bundled 8x8 digits (values 0..16), x -> x / 8 - 1.
- ``animals``: Animal-MNIST, 10,000 28x28 silhouettes, 1,000 for each of ten animals, read
  from ``data/animal_mnist.npz`` in the repository (values 0..255), x -> x / 127.5 - 1.
- ``image_folder``: PNG/JPEG files, one subfolder per class, x -> x / 127.5 - 1.

Each image loader returns the images tensor alone, or with ``return_labels=True`` a
``LabelledImages(images, labels, class_names)`` whose int64 ``labels`` are positions in
``class_names``: the selected classes in the order asked for, or all classes in their
natural order when ``classes`` is None.

This module imports no field code.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from sklearn.datasets import load_digits, make_circles, make_moons, make_swiss_roll

logger = logging.getLogger(__name__)

# Half-width of the box [-4, 4] that every toy roughly fills.
TOY_RADIUS = 4.0
# Fraction of TOY_RADIUS that a noise-free curve fills, leaving room for its noise.
TOY_MARGIN = 0.9

MOONS_NOISE = 0.05
# make_moons spans x in [-1, 2] and y in [-0.5, 1]; this is its centre and half-width in x.
MOONS_CENTRE = (0.5, 0.25)
MOONS_HALF_WIDTH = 1.5

RINGS_NOISE = 0.03
# Ratio of the inner ring's radius to the outer one's (make_circles' outer radius is 1).
RINGS_FACTOR = 0.5
RINGS_OUTER_RADIUS = 3.5

GAUSSIANS_COUNT = 8
GAUSSIANS_RADIUS = 3.0
GAUSSIANS_STD = 0.25

CHECKERBOARD_SQUARES = 4

SWISSROLL_NOISE = 0.5
# make_swiss_roll's (x, z) = t (cos t, sin t) for t in [1.5 pi, 4.5 pi] spans x in
# [-9.48, 12.61] and z in [-11.04, 14.14]: this is the middle of that box and its half-height.
SWISSROLL_CENTRE = (1.56, 1.55)
SWISSROLL_HALF_WIDTH = 12.59

PINWHEEL_ARMS = 5
PINWHEEL_RADIAL_STD = 0.3
PINWHEEL_TANGENTIAL_STD = 0.05
PINWHEEL_RATE = 0.25
PINWHEEL_SCALE = 2.0

SPIRALS_TURNS = 1.75
SPIRALS_NOISE = 0.1

# name -> (weights, means, standard deviations) of a 1D Gaussian mixture.
GMM1D_MIXTURES: dict[str, tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]] = {
    "gmm1d": ((0.5, 0.5), (-2.0, 2.0), (0.5, 0.5)),
    "gmm1d_skewed": ((0.75, 0.25), (-1.5, 2.5), (0.7, 0.3)),
    "gmm1d_three": ((0.3, 0.4, 0.3), (-3.0, 0.0, 3.0), (0.4, 0.6, 0.4)),
}

TOY_NAMES = (
    "moons",
    "rings",
    "8gaussians",
    "checkerboard",
    "swissroll",
    "pinwheel",
    "spirals",
    *GMM1D_MIXTURES,
)

DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
# load_digits counts ink in 4x4 blocks of a 32x32 bitmap, so pixel values run over 0..16.
DIGITS_MAX_VALUE = 16.0
DIGITS_SIDE = 8

ANIMAL_CLASSES = (
    "bear",
    "bird",
    "cat",
    "cow",
    "dog",
    "elephant",
    "giraffe",
    "horse",
    "sheep",
    "zebra",
)
ANIMALS_SIDE = 28
# Written once by data/convert_animal_mnist.py; found relative to the source tree, so an
# editable install of a clone finds it.
ANIMALS_PATH = Path(__file__).resolve().parents[1] / "data" / "animal_mnist.npz"

UINT8_MAX = 255.0
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_MODES = {1: "L", 3: "RGB"}


class LabelledImages(NamedTuple):
    """Images (n, C, H, W) in [-1, 1], int64 labels (n,) indexing ``class_names``."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]


def _rotate(points: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate each 2D point by its own angle."""
    cos, sin = np.cos(angle), np.sin(angle)
    x, y = points[:, 0], points[:, 1]
    return np.stack([cos * x - sin * y, sin * x + cos * y], axis=1)


def _sklearn_seed(rng: np.random.Generator) -> int:
    """An integer seed for a scikit-learn generator, drawn from ``rng``."""
    return int(rng.integers(np.iinfo(np.uint32).max))


def _split_in_two(n: int, rng: np.random.Generator) -> tuple[int, int]:
    """Counts of two equally likely components among n independent draws.

    scikit-learn splits n exactly in half; drawing the split keeps every toy a set of n
    independent draws, whose counts fluctuate as a sampler's would.
    """
    first = int(rng.binomial(n, 0.5))
    return first, n - first


def _moons(n: int, rng: np.random.Generator) -> np.ndarray:
    counts = _split_in_two(n, rng)
    points, _ = make_moons(counts, noise=MOONS_NOISE, random_state=_sklearn_seed(rng))
    return (points - np.array(MOONS_CENTRE)) * (TOY_MARGIN * TOY_RADIUS / MOONS_HALF_WIDTH)


def _rings(n: int, rng: np.random.Generator) -> np.ndarray:
    counts = _split_in_two(n, rng)
    points, _ = make_circles(
        counts, noise=RINGS_NOISE, factor=RINGS_FACTOR, random_state=_sklearn_seed(rng)
    )
    return points * RINGS_OUTER_RADIUS


def _gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    angle = 2 * math.pi * rng.integers(GAUSSIANS_COUNT, size=n) / GAUSSIANS_COUNT
    centres = GAUSSIANS_RADIUS * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return centres + GAUSSIANS_STD * rng.standard_normal((n, 2))


def _checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    # A square (i, j) is black when i + j is even; pick one of them, then a point inside it.
    side = 2 * TOY_RADIUS / CHECKERBOARD_SQUARES
    black = [
        (i, j)
        for i in range(CHECKERBOARD_SQUARES)
        for j in range(CHECKERBOARD_SQUARES)
        if (i + j) % 2 == 0
    ]
    corners = np.array(black, dtype=np.float64)[rng.integers(len(black), size=n)]
    return (corners + rng.random((n, 2))) * side - TOY_RADIUS


def _swissroll(n: int, rng: np.random.Generator) -> np.ndarray:
    points, _ = make_swiss_roll(n, noise=SWISSROLL_NOISE, random_state=_sklearn_seed(rng))
    centred = points[:, [0, 2]] - np.array(SWISSROLL_CENTRE)
    return centred * (TOY_MARGIN * TOY_RADIUS / SWISSROLL_HALF_WIDTH)


def _pinwheel(n: int, rng: np.random.Generator) -> np.ndarray:
    arm = rng.integers(PINWHEEL_ARMS, size=n)
    spread = np.array([PINWHEEL_RADIAL_STD, PINWHEEL_TANGENTIAL_STD])
    points = rng.standard_normal((n, 2)) * spread + np.array([1.0, 0.0])
    angle = 2 * math.pi * arm / PINWHEEL_ARMS + PINWHEEL_RATE * np.exp(points[:, 0])
    return PINWHEEL_SCALE * _rotate(points, angle)


def _spirals(n: int, rng: np.random.Generator) -> np.ndarray:
    # sqrt of a uniform draw spreads points evenly along the arc, whose length grows as t^2.
    t_max = 2 * math.pi * SPIRALS_TURNS
    t = t_max * np.sqrt(rng.random(n))
    radius = TOY_MARGIN * TOY_RADIUS * t / t_max
    second = rng.integers(2, size=n)
    angle = t + math.pi * second
    points = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return points + SPIRALS_NOISE * rng.standard_normal((n, 2))


def _gmm1d(name: str) -> Callable[[int, np.random.Generator], np.ndarray]:
    weights, means, stds = (np.array(values) for values in GMM1D_MIXTURES[name])

    def draw(n: int, rng: np.random.Generator) -> np.ndarray:
        component = rng.choice(len(weights), size=n, p=weights)
        return (means[component] + stds[component] * rng.standard_normal(n))[:, None]

    return draw


_TOYS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "moons": _moons,
    "rings": _rings,
    "8gaussians": _gaussians,
    "checkerboard": _checkerboard,
    "swissroll": _swissroll,
    "pinwheel": _pinwheel,
    "spirals": _spirals,
    **{name: _gmm1d(name) for name in GMM1D_MIXTURES},
}


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n: expected an integer number of points, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n: expected at least 1 point, got {n}")


def toy(name: str, n: int, *, seed: int) -> torch.Tensor:
    """Draw ``n`` points of a toy distribution.

    Args:
        name: one of ``TOY_NAMES``.
        n: number of points, at least 1.
        seed: the same seed gives the same points.

    Returns:
        float32 tensor (n, 2), or (n, 1) for the ``gmm1d`` family, in roughly [-4, 4].
    """
    if name not in _TOYS:
        raise ValueError(f"name: unknown toy {name!r}; known toys are {', '.join(TOY_NAMES)}")
    _check_count(n)

    rng = np.random.default_rng(seed)
    points = _TOYS[name](int(n), rng)
    return torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))


def _select_classes(
    labels: np.ndarray, known: tuple[str, ...], classes: Sequence[str] | None, what: str
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Keep the rows of ``classes``; return (row mask, labels relabelled, class names)."""
    if classes is None:
        return np.ones(len(labels), dtype=bool), labels, known
    if isinstance(classes, (str, int)):
        raise TypeError(f"classes: expected a sequence of {what} names, got {classes!r}")

    names = tuple(str(name) for name in classes)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"classes: unknown {what} {', '.join(map(repr, unknown))}; "
            f"known classes are {', '.join(known)}"
        )
    if not names:
        raise ValueError(f"classes: expected at least one {what} class, got none")
    if len(set(names)) != len(names):
        raise ValueError(f"classes: each class once, got {names}")

    source = np.array([known.index(name) for name in names])
    keep = np.isin(labels, source)
    relabel = np.full(len(known), -1, dtype=np.int64)
    relabel[source] = np.arange(len(names))
    return keep, relabel[labels[keep]], names


def _result(
    pixels: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    max_value: float,
    return_labels: bool,
) -> torch.Tensor | LabelledImages:
    """Map pixel values in [0, max_value] onto [-1, 1] and package them."""
    images = torch.from_numpy(np.asarray(pixels, dtype=np.float32) * (2.0 / max_value) - 1.0)
    if not return_labels:
        return images
    return LabelledImages(images, torch.from_numpy(labels.astype(np.int64)), class_names)


def digits(
    classes: Sequence[int | str] | None = None, *, return_labels: bool = False
) -> torch.Tensor | LabelledImages:
    """scikit-learn's 1,797 bundled 8x8 handwritten digits (about 180 per class).

    Args:
        classes: digits to keep, as ints or strings ("0".."9"); None keeps all ten.
        return_labels: return ``LabelledImages`` instead of the images alone.

    Returns:
        float32 images (n, 1, 8, 8) in [-1, 1]; with labels, ``labels[i]`` indexes
        ``class_names`` (so with ``classes=None`` a label is the digit itself).
    """
    bunch = load_digits()
    keep, labels, class_names = _select_classes(bunch.target, DIGIT_CLASSES, classes, "digit")
    pixels = bunch.images[keep].reshape(-1, 1, DIGITS_SIDE, DIGITS_SIDE)
    return _result(pixels, labels, class_names, DIGITS_MAX_VALUE, return_labels)


def animals(
    classes: Sequence[str] | None = None, *, return_labels: bool = False
) -> torch.Tensor | LabelledImages:
    """Animal-MNIST: 28x28 grayscale silhouettes, 1,000 per animal of ``ANIMAL_CLASSES``.

    Args:
        classes: animal names to keep, e.g. ``["cat", "dog"]``; None keeps all ten.
        return_labels: return ``LabelledImages`` instead of the images alone.

    Returns:
        float32 images (n, 1, 28, 28) in [-1, 1], 1,000 per class kept; with labels,
        ``labels[i]`` indexes ``class_names``.
    """
    if not ANIMALS_PATH.is_file():
        raise FileNotFoundError(
            f"Animal-MNIST not found at {ANIMALS_PATH}: it ships in the repository's data "
            "folder, so install fieldlab from a clone (pip install -e .), or rebuild it "
            "with data/convert_animal_mnist.py"
        )
    with np.load(ANIMALS_PATH, allow_pickle=False) as archive:
        pixels, source_labels = archive["images"], archive["labels"]

    keep, labels, class_names = _select_classes(source_labels, ANIMAL_CLASSES, classes, "animal")
    pixels = pixels[keep].reshape(-1, 1, ANIMALS_SIDE, ANIMALS_SIDE)
    return _result(pixels, labels, class_names, UINT8_MAX, return_labels)


def _read_image(path: Path, channels: int, size: int | None) -> np.ndarray:
    """One image file as uint8 (channels, H, W), resized to size x size when size is given."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert(IMAGE_MODES[channels])
        if size is not None and image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels.reshape(pixels.shape[0], pixels.shape[1], channels).transpose(2, 0, 1)


def image_folder(
    path: str | Path,
    size: int | None = None,
    *,
    channels: int = 1,
    classes: Sequence[str] | None = None,
    return_labels: bool = False,
) -> torch.Tensor | LabelledImages:
    """Images from ``path/<class name>/*.png|*.jpg|*.jpeg``, one subfolder per class.

    Args:
        path: the folder holding one subfolder per class; files directly in it are ignored.
        size: resize every image to size x size (bilinear); None keeps the files' own size,
            which must then be the same for all of them.
        channels: 1 for grayscale, 3 for RGB; each file is converted to that mode.
        classes: subfolder names to keep; None keeps every subfolder that holds an image.
        return_labels: return ``LabelledImages`` instead of the images alone.

    Returns:
        float32 images (n, channels, H, W) in [-1, 1], ordered by class then file name;
        with labels, ``labels[i]`` indexes ``class_names`` (sorted subfolder names when
        ``classes`` is None).

    Limitation: resizing does not keep the aspect ratio, so non-square images are stretched.
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"path: expected a folder of class subfolders, got {str(root)!r}")
    if channels not in IMAGE_MODES:
        raise ValueError(f"channels: expected 1 (grayscale) or 3 (RGB), got {channels}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"size: expected a positive int or None, got {size!r}")

    files = {
        folder.name: sorted(
            file for file in folder.iterdir() if file.suffix.lower() in IMAGE_SUFFIXES
        )
        for folder in sorted(root.iterdir())
        if folder.is_dir()
    }
    found = tuple(name for name, names in files.items() if names)
    if not found:
        raise ValueError(
            f"path: no {'/'.join(IMAGE_SUFFIXES)} images in the subfolders of {str(root)!r}"
        )
    for name in files.keys() - set(found):
        logger.warning("image_folder: subfolder %r holds no images and is skipped", name)

    paths = [file for name in found for file in files[name]]
    source_labels = np.repeat(np.arange(len(found)), [len(files[name]) for name in found])
    keep, labels, class_names = _select_classes(source_labels, found, classes, "image class")
    paths = [file for file, kept in zip(paths, keep, strict=True) if kept]

    pixels = [_read_image(file, channels, size) for file in paths]
    shapes = {image.shape[1:] for image in pixels}
    if len(shapes) > 1:
        first = pixels[0].shape[1:]
        odd = next(i for i, image in enumerate(pixels) if image.shape[1:] != first)
        raise ValueError(
            f"path: images of mixed sizes, e.g. {paths[0].name} is {first} and "
            f"{paths[odd].name} is {pixels[odd].shape[1:]} (height, width); pass size= to "
            "resize them"
        )
    logger.info("image_folder: %d images in %d classes from %s", len(paths), len(found), root)
    return _result(np.stack(pixels), labels, class_names, UINT8_MAX, return_labels)
