"""Multi-process training: two CPU processes under torchrun end with identical weights."""

import subprocess
import sys
import textwrap

import torch
from safetensors.torch import load_file

WORKER = textwrap.dedent(
    """
    import os
    import sys

    import torch
    from safetensors.torch import save_file

    from fieldlab.datasets import toy
    from fieldlab.training import train

    torch.set_num_threads(1)
    out = sys.argv[1]
    field = train(
        toy("moons", 400, seed=0), D=16, steps=4, batch_size=64, reference_size=256,
        seed=2, progress=False, checkpoint=os.path.join(out, "run.safetensors"),
    )
    rank = os.environ["RANK"]
    save_file(field.network.state_dict(), os.path.join(out, f"rank{rank}.safetensors"))
    """
)


def test_two_processes_end_with_identical_weights(tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(worker),
        str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    first = load_file(tmp_path / "rank0.safetensors")
    second = load_file(tmp_path / "rank1.safetensors")
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name
    moved = [not torch.equal(first[k], torch.zeros_like(first[k])) for k in first if "output" in k]
    assert any(moved)
    assert (tmp_path / "run.safetensors").exists()
