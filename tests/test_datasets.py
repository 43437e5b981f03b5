"""Data sets: shapes, dtypes, ranges, per-class counts, determinism and bad input."""

from __future__ import annotations

import ast
import gzip
import importlib.util
import math
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from fieldlab import datasets

REPO = Path(__file__).resolve().parents[1]
CONVERTER_PATH = REPO / "data" / "convert_animal_mnist.py"
TOY_POINTS = 1000
# The toys sit in roughly [-4, 4]: their noise may reach a little beyond.
TOY_BULK_BOUND = 4.0
TOY_HARD_BOUND = 5.0
ANIMALS_PER_CLASS = 1000


def _load_converter():
    spec = importlib.util.spec_from_file_location("convert_animal_mnist", CONVERTER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


converter = _load_converter()


@pytest.mark.parametrize("name", datasets.TOY_NAMES)
def test_toy_is_float32_points_in_the_box_of_half_width_four(name):
    points = datasets.toy(name, TOY_POINTS, seed=0)

    dim = 1 if name.startswith("gmm1d") else 2
    assert points.shape == (TOY_POINTS, dim)
    assert points.dtype == torch.float32
    assert torch.isfinite(points).all()
    assert points.abs().max() < TOY_HARD_BOUND
    assert torch.quantile(points.abs().flatten(), 0.99) < TOY_BULK_BOUND
    # Every toy spreads over the box, not a corner of it.
    assert points.std(dim=0).min() > 1.0


@pytest.mark.parametrize("name", datasets.TOY_NAMES)
def test_toy_is_deterministic_under_its_seed(name):
    first = datasets.toy(name, 50, seed=3)

    assert torch.equal(first, datasets.toy(name, 50, seed=3))
    assert not torch.equal(first, datasets.toy(name, 50, seed=4))


def test_toy_names_cover_the_issued_families():
    expected = {"moons", "rings", "8gaussians", "checkerboard", "swissroll", "pinwheel"}
    assert expected | {"spirals", "gmm1d"} <= set(datasets.TOY_NAMES)


def test_one_point_toy_has_one_row():
    assert datasets.toy("moons", 1, seed=0).shape == (1, 2)


def test_gmm1d_mixture_weights_follow_its_table():
    points = datasets.toy("gmm1d_skewed", 20_000, seed=0)[:, 0]
    weights, means, _ = datasets.GMM1D_MIXTURES["gmm1d_skewed"]

    # The two modes sit far apart, so the midpoint separates the components.
    left = (points < sum(means) / 2).double().mean()
    assert left == pytest.approx(weights[0], abs=0.01)


def test_checkerboard_points_lie_on_black_squares_only():
    points = datasets.toy("checkerboard", 5000, seed=1)
    side = 2 * datasets.TOY_RADIUS / datasets.CHECKERBOARD_SQUARES
    squares = torch.floor((points + datasets.TOY_RADIUS) / side).long()

    assert ((squares.sum(dim=1) % 2) == 0).all()
    assert len(torch.unique(squares, dim=0)) == datasets.CHECKERBOARD_SQUARES**2 // 2


def test_rings_split_evenly_between_two_radii():
    radius = datasets.toy("rings", 4000, seed=0).norm(dim=1)
    outer = datasets.RINGS_OUTER_RADIUS
    inner = outer * datasets.RINGS_FACTOR
    on_outer = (radius > (outer + inner) / 2).double()

    assert on_outer.mean() == pytest.approx(0.5, abs=0.03)
    assert radius[on_outer == 1].mean() == pytest.approx(outer, rel=0.02)
    assert radius[on_outer == 0].mean() == pytest.approx(inner, rel=0.02)


def test_ring_counts_fluctuate_like_independent_draws():
    # scikit-learn alone would put exactly n / 2 on each ring, for every seed; independent
    # draws give Binomial(n, 1/2) counts, of standard deviation sqrt(n) / 2.
    n, seeds = 400, 8
    threshold = datasets.RINGS_OUTER_RADIUS * (1 + datasets.RINGS_FACTOR) / 2
    outer = [
        int((datasets.toy("rings", n, seed=s).norm(dim=1) > threshold).sum()) for s in range(seeds)
    ]
    standard_error = math.sqrt(n) / 2 / math.sqrt(seeds)

    assert len(set(outer)) > 1
    assert abs(np.mean(outer) - n / 2) < 4 * standard_error


def test_eight_gaussians_put_an_eighth_near_each_centre():
    points = datasets.toy("8gaussians", 8000, seed=0)
    angle = 2 * torch.pi * torch.arange(8) / 8
    centres = datasets.GAUSSIANS_RADIUS * torch.stack([angle.cos(), angle.sin()], dim=1)
    nearest = torch.cdist(points, centres).argmin(dim=1)

    fractions = torch.bincount(nearest, minlength=8) / len(points)
    assert torch.allclose(fractions, torch.full((8,), 1 / 8), atol=0.015)


def test_unknown_toy_error_lists_the_known_toys():
    with pytest.raises(ValueError, match="name: unknown toy 'moon'.*checkerboard"):
        datasets.toy("moon", 10, seed=0)


@pytest.mark.parametrize("n", [0, -5])
def test_toy_refuses_fewer_than_one_point(n):
    with pytest.raises(ValueError, match="n: expected at least 1"):
        datasets.toy("moons", n, seed=0)


def test_toy_refuses_a_fractional_count():
    with pytest.raises(TypeError, match="n: expected an integer"):
        datasets.toy("moons", 2.5, seed=0)


def test_digits_are_all_of_sklearns_digits_in_the_unit_box():
    images, labels, names = datasets.digits(return_labels=True)
    target = load_digits().target

    assert images.shape == (len(target), 1, 8, 8)
    assert images.dtype == torch.float32
    assert images.min() == -1.0 and images.max() == 1.0
    assert names == datasets.DIGIT_CLASSES
    assert labels.dtype == torch.int64
    assert torch.equal(torch.bincount(labels), torch.from_numpy(np.bincount(target)))


def test_digits_selection_relabels_in_the_order_asked():
    images, labels, names = datasets.digits([7, "3"], return_labels=True)
    target = load_digits().target

    assert names == ("7", "3")
    assert len(images) == (target == 7).sum() + (target == 3).sum()
    assert torch.bincount(labels).tolist() == [(target == 7).sum(), (target == 3).sum()]
    assert torch.equal(datasets.digits([7, 3]), images)


def test_digits_without_labels_returns_the_images_alone():
    assert isinstance(datasets.digits([0]), torch.Tensor)


def test_unknown_digit_error_lists_the_known_classes():
    with pytest.raises(ValueError, match="classes: unknown digit '12'.*0, 1, 2"):
        datasets.digits([1, 12])


def test_animals_are_ten_classes_of_a_thousand_silhouettes_in_the_unit_box():
    images, labels, names = datasets.animals(return_labels=True)

    assert images.shape == (10 * ANIMALS_PER_CLASS, 1, 28, 28)
    assert images.dtype == torch.float32
    assert images.min() == -1.0 and images.max() == 1.0
    assert names == datasets.ANIMAL_CLASSES
    assert torch.bincount(labels).tolist() == [ANIMALS_PER_CLASS] * 10


def test_animals_by_name_keep_the_classes_asked_for():
    everything, all_labels, _ = datasets.animals(return_labels=True)
    images, labels, names = datasets.animals(["dog", "cat"], return_labels=True)

    assert names == ("dog", "cat")
    assert images.shape == (2 * ANIMALS_PER_CLASS, 1, 28, 28)
    assert torch.bincount(labels).tolist() == [ANIMALS_PER_CLASS, ANIMALS_PER_CLASS]
    dog = datasets.ANIMAL_CLASSES.index("dog")
    assert torch.equal(images[labels == 0], everything[all_labels == dog])


def test_unknown_animal_error_lists_the_known_animals():
    with pytest.raises(ValueError, match="classes: unknown animal 'cats'.*bear, bird, cat"):
        datasets.animals(["cats"])


def test_a_bare_class_name_is_refused_as_not_a_sequence():
    with pytest.raises(TypeError, match="classes: expected a sequence"):
        datasets.animals("cat")


def test_missing_animal_file_names_where_it_was_looked_for(monkeypatch, tmp_path):
    missing = tmp_path / "animal_mnist.npz"
    monkeypatch.setattr(datasets, "ANIMALS_PATH", missing)

    with pytest.raises(FileNotFoundError, match="animal_mnist.npz"):
        datasets.animals()


def test_animal_npz_matches_the_counts_and_labels_of_its_source():
    with np.load(datasets.ANIMALS_PATH, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["images", "labels"]
        images, labels = archive["images"], archive["labels"]

    assert images.dtype == np.uint8 and images.shape == (10_000, 28, 28)
    assert labels.dtype == np.int64
    values, counts = np.unique(labels, return_counts=True)
    assert values.tolist() == list(range(len(converter.CLASS_NAMES)))
    assert counts.tolist() == [converter.IMAGES_PER_CLASS] * len(converter.CLASS_NAMES)
    assert converter.CLASS_NAMES == datasets.ANIMAL_CLASSES
    converter.check_arrays(images, labels)


def test_animal_licence_names_its_source_and_version():
    text = (REPO / "data" / "ANIMAL_MNIST_LICENSE").read_text(encoding="utf-8")

    assert "animal-mnist version 0.4" in text
    assert "MIT License" in text and "Permission is hereby granted" in text


def _crafted_source(per_class: list[int]) -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat(np.arange(len(per_class)), per_class)
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    return images, labels


def test_conversion_check_accepts_a_thousand_of_each_class():
    images, labels = converter.check_arrays(*_crafted_source([1000] * 10))

    assert images.dtype == np.uint8 and labels.dtype == np.int64


def test_conversion_check_refuses_a_class_with_a_different_count():
    images, labels = _crafted_source([1000] * 10)
    labels[0] = 9  # one bear relabelled as a zebra: still 10,000 images in all

    with pytest.raises(ValueError, match="1000 images per class.*'bear': 999.*'zebra': 1001"):
        converter.check_arrays(images, labels)


def test_conversion_check_refuses_a_source_of_a_different_size():
    with pytest.raises(ValueError, match=r"images: expected shape \(10000, 28, 28\)"):
        converter.check_arrays(*_crafted_source([999] * 10))


def test_conversion_check_refuses_a_missing_class():
    images, labels = _crafted_source([1000] * 10)
    labels[labels == 9] = 8

    with pytest.raises(ValueError, match="labels: expected the values 0..9"):
        converter.check_arrays(images, labels)


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float32])
def test_pickled_array_is_rebuilt_without_unpickling(dtype):
    array = np.arange(24, dtype=dtype).reshape(2, 3, 4)

    for order in ("C", "F"):
        stream = pickle.dumps(np.asarray(array, order=order), protocol=4)
        rebuilt = converter.array_from_pickle(stream)
        assert rebuilt.dtype == array.dtype and np.array_equal(rebuilt, array)


def test_pickle_naming_anything_but_numpy_is_refused():
    with pytest.raises(ValueError, match="not a plain numpy array"):
        converter.array_from_pickle(pickle.dumps(print, protocol=4))


def test_conversion_of_a_bad_source_writes_nothing(monkeypatch, tmp_path):
    images, labels = _crafted_source([1000] * 10)
    labels[:2] = 9
    wheel = tmp_path / "animal_mnist-0.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(converter.IMAGES_MEMBER, gzip.compress(pickle.dumps(images, protocol=4)))
        archive.writestr(converter.LABELS_MEMBER, gzip.compress(pickle.dumps(labels, protocol=4)))
        archive.writestr("animal_mnist-0.4" + converter.LICENSE_SUFFIX, "MIT License")
    monkeypatch.setattr(converter, "OUTPUT_NPZ", tmp_path / "out.npz")
    monkeypatch.setattr(converter, "OUTPUT_LICENSE", tmp_path / "OUT_LICENSE")

    with pytest.raises(ValueError, match="images per class"):
        converter.convert(wheel)
    assert not (tmp_path / "out.npz").exists() and not (tmp_path / "OUT_LICENSE").exists()


def _write_image(path: Path, value: int, size: tuple[int, int], mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fill = value if mode == "L" else (value, 0, 255)
    Image.new(mode, size, fill).save(path)


@pytest.fixture
def folder(tmp_path):
    """Two classes of 6x6 images: three white ``circle`` files, two black ``square`` files."""
    for i in range(3):
        _write_image(tmp_path / "circle" / f"{i}.png", 255, (6, 6))
    for i in range(2):
        _write_image(tmp_path / "square" / f"{i}.png", 0, (6, 6))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_image_folder_reads_one_class_per_subfolder(folder):
    images, labels, names = datasets.image_folder(folder, return_labels=True)

    assert images.shape == (5, 1, 6, 6) and images.dtype == torch.float32
    assert names == ("circle", "square")
    assert labels.tolist() == [0, 0, 0, 1, 1]
    assert (images[:3] == 1.0).all() and (images[3:] == -1.0).all()


def test_image_folder_resizes_when_given_a_size(folder):
    _write_image(folder / "square" / "big.jpg", 0, (10, 12))

    images = datasets.image_folder(folder, 4)
    assert images.shape == (6, 1, 4, 4)
    assert images.min() >= -1.0 and images.max() <= 1.0


def test_image_folder_reads_rgb_with_three_channels(tmp_path):
    _write_image(tmp_path / "red" / "a.png", 255, (5, 5), mode="RGB")

    images = datasets.image_folder(tmp_path, channels=3)
    assert images.shape == (1, 3, 5, 5)
    assert images[0, :, 0, 0].tolist() == [1.0, -1.0, 1.0]


def test_image_folder_selects_classes_by_name(folder):
    images, labels, names = datasets.image_folder(folder, classes=["square"], return_labels=True)

    assert names == ("square",) and labels.tolist() == [0, 0]
    assert (images == -1.0).all()


def test_image_folder_with_mixed_sizes_and_no_size_is_refused(folder):
    _write_image(folder / "square" / "odd.png", 0, (7, 6))

    with pytest.raises(ValueError, match="mixed sizes.*size="):
        datasets.image_folder(folder)


def test_image_folder_without_images_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("nothing here")

    with pytest.raises(ValueError, match="path: no .png/.jpg/.jpeg images"):
        datasets.image_folder(tmp_path)


def test_image_folder_refuses_a_path_that_is_not_a_folder(tmp_path):
    with pytest.raises(ValueError, match="path: expected a folder"):
        datasets.image_folder(tmp_path / "absent")


def test_image_folder_refuses_other_channel_counts(folder):
    with pytest.raises(ValueError, match="channels: expected 1"):
        datasets.image_folder(folder, channels=2)


def test_image_folder_unknown_class_lists_the_subfolders(folder):
    with pytest.raises(ValueError, match="classes: unknown image class 'star'.*circle, square"):
        datasets.image_folder(folder, classes=["star"])


@pytest.mark.parametrize("module", ["datasets", "metrics"])
def test_data_and_measures_import_no_field_code(module):
    tree = ast.parse((REPO / "fieldlab" / f"{module}.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))

    assert not any(name.startswith(("fieldlab", ".")) for name in imported), imported
