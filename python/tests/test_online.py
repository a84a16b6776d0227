"""Online capture (statistics only, through the C++ Accumulator) agrees with dump + `fpscope analyze`."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from test_capture import make_model, train  # noqa: E402

FORMATS = ["e4m3", "bf16", "e2m1"]
RECIPES = ["none", "tensor", "mx"]


def per_tensor(doc):
    """(name, step) -> everything measured on the tensor, minus where it came from."""
    out = {}
    for t in doc["tensors"]:
        key = (t["name"], t["step"])
        assert key not in out
        out[key] = {k: v for k, v in t.items() if k not in ("file",)}
    return out


def test_online_and_dump_give_the_same_statistics(core, fpscope_bin, tmp_path):
    from fpscope.capture import Capture
    from fpscope.safetensors_io import read_safetensors

    model, opt = make_model(seed=1)
    train(Capture(model, opt, steps=[0, 1], mode="dump", out_dir=tmp_path, seed=3), model, opt)

    model, opt = make_model(seed=1)
    acc = core.Accumulator(formats=FORMATS, recipes=RECIPES)
    train(Capture(model, opt, steps=[0, 1], mode="online", analyzer=acc, seed=3), model, opt)

    out = tmp_path / "result.json"
    done = subprocess.run([fpscope_bin, "analyze", str(tmp_path), "--quiet", "--formats", ",".join(FORMATS),
                           "--recipes", ",".join(RECIPES), "--json", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    dumped = per_tensor(json.loads(out.read_text()))
    online = per_tensor(acc.result())
    assert len(dumped) > 20
    assert set(online) == set(dumped)
    for key in dumped:
        assert online[key] == dumped[key], key

    # The C++ reader reads every dumped tensor bit for bit as the Python writer wrote it.
    files = sorted(p for p in os.listdir(tmp_path) if p.endswith(".safetensors"))
    assert len(files) == 2
    for name in files:
        path = str(tmp_path / name)
        reference = read_safetensors(path)
        ours = core._core.read_file(path)
        assert len(ours) == len(reference.names())
        for tensor, info, values in ours:
            assert "error" not in info, info
            expected = reference.numpy(tensor).astype(np.float64)
            assert np.array_equal(values, expected), (name, tensor)
