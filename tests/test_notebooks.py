"""Every notebook in ``notebooks/`` executes end to end (run from the repository root).

Discovered, not listed, so a new notebook is tested without touching this file. Each
runs at the small scale it is written for; some also print a known value to check.
"""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Text a notebook's outputs must contain (beyond running without error).
EXPECTED = {
    "dp_epsilon.ipynb": ["7.207"],  # the paper's anchor lower bound, computed in the notebook
}


def test_every_notebook_is_collected():
    assert {p.name for p in NOTEBOOKS} >= {"conformal.ipynb", "crowd_top_two.ipynb", "dp_epsilon.ipynb",
                                           "dp_km.ipynb", "tts.ipynb"}
    assert set(EXPECTED) <= {p.name for p in NOTEBOOKS}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors[0].get("ename")
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    for expected in EXPECTED.get(path.name, []):
        assert expected in text, f"{path.name}: expected {expected!r} in its outputs"
