"""The command line: demo, sample and bench run end to end and write what they promise."""

import json

import numpy as np
import pytest

from fieldlab.cli import main


def test_demo_quick_measures_landing_mixture_and_repulsion(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "demo.json").read_text())
    assert [row["D"] for row in report["sampling"]] == [1, 128, "inf"]
    assert all(row["NFE"] == 16 for row in report["sampling"])
    # At 16 NFE, PFGM++ (D = 128) lands on the charges far more often than PFGM (D = 1).
    landed = [float(row["landed"]) for row in report["sampling"]]
    assert landed[1] > 0.3 and landed[0] < 0.5 * landed[1]
    mixture = report["superposition"]
    assert abs(mixture["share_first"] - 0.7) < 4 * mixture["binomial_sd"]
    negative = report["negative"]
    assert negative["with"]["near_negatives"] < 0.5 * negative["without"]["near_negatives"]
    for picture in ("sampling.png", "superposition.png", "negative.png"):
        assert (tmp_path / picture).stat().st_size > 10_000
    assert "Superposition" in capsys.readouterr().out


def test_sample_command_writes_samples_of_the_toy_shape(tmp_path):
    out = tmp_path / "x.npy"
    code = main(
        [
            "sample",
            "--toy",
            "rings",
            "--charges",
            "300",
            "--n",
            "50",
            "--steps",
            "6",
            "--D",
            "inf",
            "--out",
            str(out),
            "--png",
            str(tmp_path / "x.png"),
        ]
    )
    assert code == 0
    x = np.load(out, allow_pickle=False)
    assert x.shape == (50, 2) and np.isfinite(x).all()
    assert (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sample", "--toy", "moons", "--out", "x.txt"], "--out must name a .npy file"),
        (["sample", "--toy", "moons", "--n", "0"], "n must be an int >= 1"),
        (["sample", "--toy", "blobs"], "blobs"),
    ],
)
def test_bad_arguments_exit_with_a_message_and_write_nothing(tmp_path, capsys, argv, message):
    argv = [a if a != "x.txt" else str(tmp_path / "x.txt") for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "x.npy")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_bench_prints_one_row_per_D_and_step_count(capsys):
    argv = ["bench", "--charges", "200", "--n", "100", "--D", "1", "inf", "--steps", "2", "6"]
    assert main(argv) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 4
    assert rows[1].startswith("| 1 | 2 | 4 |") and rows[-1].startswith("| inf | 6 | 12 |")


def test_an_invalid_D_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--toy", "moons", "--D", "two"])
    assert exit_info.value.code == 2
    assert "--D must be an int >= 1 or 'inf', got 'two'" in capsys.readouterr().err
