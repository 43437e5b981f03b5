"""The README's examples run as written (all but the one that trains a network)."""

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_exact_field_and_sampling_examples_run():
    blocks = [b for b in python_blocks() if "fieldlab.train(" not in b]
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert abs(namespace["mixture"].total_charge - 1.0) < 1e-12
    assert namespace["x"].shape == (100, 2)
    assert namespace["info"].nfe == 34
    x, back = namespace["x"], namespace["back"]
    relative = (back - x).norm(dim=1) / x.norm(dim=1)
    assert float(relative.median()) < 1e-4
    assert namespace["logp"].shape == (20,) and bool(namespace["logp"].isfinite().all())
