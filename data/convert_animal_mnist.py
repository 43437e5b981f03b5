"""Convert Animal-MNIST (PyPI ``animal-mnist`` 0.4) into ``animal_mnist.npz``, once, offline.

Animal-MNIST holds 10,000 grayscale 28x28 silhouettes of ten animals, 1,000 per class, with
labels 0..9 for bear, bird, cat, cow, dog, elephant, giraffe, horse, sheep and zebra. Its
wheel stores the two arrays as gzip-compressed pickles of numpy arrays
(``animal_mnist/data/Animal_MNIST/animal_data_version_3.gz`` and ``..._label_version_3.gz``).

Nothing here unpickles. A pickle of a plain numpy array is a short, fixed program: call
``numpy.core.multiarray._reconstruct``, then set the array's state to
(version, shape, dtype, fortran_order, raw_bytes). This script reads that program with
``pickletools.genops``, which only decodes opcodes and never imports or calls anything,
evaluates it on a small symbolic stack that knows three allowed names, and builds the array
with ``numpy.frombuffer`` from the raw bytes. Any other opcode or name is refused.

The arrays are checked (count, shape, label set, per-class count) and written as a compressed
``.npz`` of ``images`` (uint8, (10000, 28, 28)) and ``labels`` (int64, (10000,)), which
``fieldlab.datasets.animals`` loads with ``allow_pickle=False``. A source whose counts differ
is refused with a clear error and nothing is written.

Usage::

    python data/convert_animal_mnist.py            # downloads the wheel with pip
    python data/convert_animal_mnist.py --wheel animal_mnist-0.4-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import gzip
import pickletools
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from fieldlab.datasets import ANIMAL_CLASSES

SOURCE_NAME = "animal-mnist"
SOURCE_VERSION = "0.4"
IMAGES_MEMBER = "animal_mnist/data/Animal_MNIST/animal_data_version_3.gz"
LABELS_MEMBER = "animal_mnist/data/Animal_MNIST/animal_label_version_3.gz"
LICENSE_SUFFIX = ".dist-info/licenses/LICENSE"

# The label order of the source (alphabetical, checked against its images), which the loader
# shares.
CLASS_NAMES = ANIMAL_CLASSES
IMAGES_PER_CLASS = 1000
IMAGE_SIDE = 28

HERE = Path(__file__).resolve().parent
OUTPUT_NPZ = HERE / "animal_mnist.npz"
OUTPUT_LICENSE = HERE / "ANIMAL_MNIST_LICENSE"

# The only callables a numpy array pickle may name (numpy 2 writes numpy._core for numpy.core).
RECONSTRUCT = "numpy.core.multiarray._reconstruct"
NDARRAY = "numpy.ndarray"
DTYPE = "numpy.dtype"
ALIASES = {"numpy._core.multiarray._reconstruct": RECONSTRUCT}
ALLOWED_GLOBALS = {RECONSTRUCT, NDARRAY, DTYPE, *ALIASES}
# Index of the byte-order character in the state tuple of a pickled numpy.dtype.
DTYPE_STATE_BYTEORDER = 1


class _Mark:
    """The MARK opcode's place on the symbolic stack."""


class _Call:
    """A deferred call ``func(*args)`` of an allowed global, later given a state by BUILD."""

    def __init__(self, func: str, args: tuple) -> None:
        self.func = func
        self.args = args
        self.state: tuple | None = None


def _pop_to_mark(stack: list) -> tuple:
    """Pop the items above the last MARK and the MARK itself; return them in order."""
    for depth in range(len(stack) - 1, -1, -1):
        if isinstance(stack[depth], _Mark):
            items = tuple(stack[depth + 1 :])
            del stack[depth:]
            return items
    raise ValueError("pickle stream: MARK expected but not found")


def _evaluate_array_pickle(stream: bytes) -> _Call:
    """Evaluate a numpy array pickle symbolically; return its top-level ``_Call``."""
    stack: list = []
    memo: dict[int, object] = {}
    tuple_sizes = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}
    constants = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_TUPLE": ()}
    literals = {
        "BININT",
        "BININT1",
        "BININT2",
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "SHORT_BINBYTES",
        "BINBYTES",
        "BINBYTES8",
    }

    for opcode, arg, _ in pickletools.genops(stream):
        name = opcode.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            break
        if name in literals:
            stack.append(arg)
        elif name in constants:
            stack.append(constants[name])
        elif name == "MARK":
            stack.append(_Mark())
        elif name in tuple_sizes:
            size = tuple_sizes[name]
            items = tuple(stack[-size:])
            del stack[-size:]
            stack.append(items)
        elif name == "TUPLE":
            stack.append(_pop_to_mark(stack))
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name in ("STACK_GLOBAL", "GLOBAL"):
            if name == "GLOBAL":
                qualified = arg.replace(" ", ".")
            else:
                attribute = stack.pop()
                module = stack.pop()
                qualified = f"{module}.{attribute}"
            if qualified not in ALLOWED_GLOBALS:
                raise ValueError(f"pickle stream names {qualified!r}, not a plain numpy array")
            stack.append(ALIASES.get(qualified, qualified))
        elif name == "REDUCE":
            args = stack.pop()
            func = stack.pop()
            if func not in (RECONSTRUCT, DTYPE):
                raise ValueError(f"pickle stream calls {func!r}, not a plain numpy array")
            stack.append(_Call(func, args))
        elif name == "BUILD":
            state = stack.pop()
            target = stack[-1]
            if not isinstance(target, _Call):
                raise ValueError("pickle stream: BUILD on something that is not an object")
            target.state = state
        else:
            raise ValueError(f"pickle stream uses opcode {name}, not expected in a numpy array")

    if len(stack) != 1 or not isinstance(stack[0], _Call) or stack[0].func != RECONSTRUCT:
        raise ValueError("pickle stream does not hold a single numpy array")
    return stack[0]


def array_from_pickle(stream: bytes) -> np.ndarray:
    """Rebuild the numpy array that ``stream`` pickles, without unpickling it.

    Args:
        stream: the bytes of ``pickle.dumps(array)`` for a plain (non-object) numpy array.

    Returns:
        A fresh, writable copy of the array.
    """
    array_call = _evaluate_array_pickle(stream)
    if array_call.state is None:
        raise ValueError("pickle stream: array has no state")
    _, shape, dtype_call, fortran_order, raw = array_call.state
    if not isinstance(dtype_call, _Call) or dtype_call.func != DTYPE:
        raise ValueError("pickle stream: array state has no dtype")
    if not isinstance(raw, bytes):
        raise ValueError("pickle stream: array data are not raw bytes (object array?)")

    code = dtype_call.args[0]
    byteorder = "|"
    if dtype_call.state is not None:
        byteorder = dtype_call.state[DTYPE_STATE_BYTEORDER]
    dtype = np.dtype(code).newbyteorder("=" if byteorder == "|" else byteorder)
    order = "F" if fortran_order else "C"
    return np.frombuffer(raw, dtype=dtype).reshape(shape, order=order).copy()


def check_arrays(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check Animal-MNIST's counts and labels; return (uint8 images, int64 labels).

    Args:
        images: (10000, 28, 28) pixel values in 0..255.
        labels: (10000,) integer labels 0..9, 1,000 of each.

    Raises:
        ValueError: naming what differs from the expected counts, shapes or labels.
    """
    expected_n = IMAGES_PER_CLASS * len(CLASS_NAMES)
    expected_shape = (expected_n, IMAGE_SIDE, IMAGE_SIDE)
    if images.shape != expected_shape:
        raise ValueError(f"images: expected shape {expected_shape}, got {images.shape}")
    if labels.shape != (expected_n,):
        raise ValueError(f"labels: expected shape ({expected_n},), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels: expected integers, got dtype {labels.dtype}")
    if images.min() < 0 or images.max() > np.iinfo(np.uint8).max:
        raise ValueError(f"images: expected values in 0..255, got {images.min()}..{images.max()}")

    values, counts = np.unique(labels, return_counts=True)
    expected_values = np.arange(len(CLASS_NAMES))
    if not np.array_equal(values, expected_values):
        raise ValueError(f"labels: expected the values 0..{len(CLASS_NAMES) - 1}, got {values}")
    if not np.all(counts == IMAGES_PER_CLASS):
        per_class = dict(zip(CLASS_NAMES, counts.tolist(), strict=True))
        raise ValueError(f"labels: expected {IMAGES_PER_CLASS} images per class, got {per_class}")
    return images.astype(np.uint8), labels.astype(np.int64)


def read_wheel(wheel: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Read the images, labels and licence text out of the Animal-MNIST wheel."""
    with zipfile.ZipFile(wheel) as archive:
        images = array_from_pickle(gzip.decompress(archive.read(IMAGES_MEMBER)))
        labels = array_from_pickle(gzip.decompress(archive.read(LABELS_MEMBER)))
        licence_members = [m for m in archive.namelist() if m.endswith(LICENSE_SUFFIX)]
        if len(licence_members) != 1:
            raise ValueError(f"{wheel}: expected one licence file, found {licence_members}")
        licence = archive.read(licence_members[0]).decode("utf-8")
    return images, labels, licence


def download_wheel(folder: Path) -> Path:
    """Download the source wheel (without its dependencies) into ``folder``."""
    requirement = f"{SOURCE_NAME}=={SOURCE_VERSION}"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", requirement]
    subprocess.run([*command, "-d", str(folder)], check=True)
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel in {folder}, found {wheels}")
    return wheels[0]


def convert(wheel: Path) -> None:
    """Check the wheel's arrays and write the ``.npz`` and the licence beside this script."""
    images, labels, licence = read_wheel(wheel)
    images, labels = check_arrays(images, labels)

    np.savez_compressed(OUTPUT_NPZ, images=images, labels=labels)
    header = (
        f"Animal-MNIST, from the Python package {SOURCE_NAME} version {SOURCE_VERSION},\n"
        f"converted to {OUTPUT_NPZ.name} (images uint8, labels int64; label k is class k of\n"
        f"{', '.join(CLASS_NAMES)}).\n"
        "Its licence follows.\n\n"
    )
    OUTPUT_LICENSE.write_text(header + licence.rstrip() + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="an already downloaded wheel")
    options = parser.parse_args()

    if options.wheel is not None:
        convert(options.wheel)
        return
    with tempfile.TemporaryDirectory() as folder:
        convert(download_wheel(Path(folder)))


if __name__ == "__main__":
    main()
