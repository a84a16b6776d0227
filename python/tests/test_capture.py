"""Tests of fpscope.safetensors_io and fpscope.capture (pure Python; no compiled extension needed)."""

import hashlib
import json
import os
import struct
import sys
import warnings

import numpy as np
import pytest

# Appended, not prepended: a built package on PYTHONPATH (with fpscope._core) wins.
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from fpscope.capture import Capture, CaptureError, dump_path  # noqa: E402
from fpscope.safetensors_io import (  # noqa: E402
    SafetensorsError,
    read_safetensors,
    to_float_numpy,
    write_safetensors,
)

VOCAB = 11


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 8)
        self.ln = nn.LayerNorm(8)
        self.fc1 = nn.Linear(8, 16)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(16, VOCAB)

    def forward(self, tokens):
        return self.fc2(self.act(self.fc1(self.ln(self.emb(tokens)))))


LAYERS = {"emb": "Embedding", "ln": "LayerNorm", "fc1": "Linear", "fc2": "Linear"}


def make_model(seed=0):
    torch.manual_seed(seed)
    model = TinyNet()
    return model, torch.optim.Adam(model.parameters(), lr=1e-2)


def batch(step):
    g = torch.Generator().manual_seed(100 + step)
    return torch.randint(0, VOCAB, (3, 10), generator=g)


def train(capture, model, opt, steps=2, autocast_dtype=None, probe=None):
    """Run `steps` Adam steps of next-token prediction, driving `capture` around each."""
    with capture:
        for step in range(steps):
            capture.step_begin(step)
            tokens = batch(step)
            with torch.autocast("cpu", dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
                logits = model(tokens)
            if probe is not None:
                logits.retain_grad()
            loss = nn.functional.cross_entropy(logits.float().reshape(-1, VOCAB)[:-1], tokens.reshape(-1)[1:])
            loss.backward()
            if probe is not None:
                probe[step] = {"logits_grad": logits.grad.clone(), "logits": logits.detach().clone()}
            capture.after_backward()
            opt.step()
            capture.after_optimizer_step()
            opt.zero_grad()
            capture.step_end()


class Recorder:
    """Online-mode analyzer stub: keeps everything it is given."""

    def __init__(self):
        self.received = {}

    def add(self, name, array, meta):
        assert isinstance(array, np.ndarray) and array.dtype.kind == "f"
        assert meta["step"] not in self.received.get(name, {})
        self.received.setdefault(name, {})[meta["step"]] = (array, meta)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tensor_meta(st, name):
    return json.loads(st.metadata["fpscope.tensor." + name])


# ------------------------------------------------------------------ safetensors_io


def special_values(dtype):
    finfo = torch.finfo(dtype)
    return torch.tensor(
        [0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), float("nan"), finfo.max, finfo.tiny,
         finfo.tiny / 4, -finfo.tiny / 8, finfo.eps],
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_write_read_round_trip_is_bit_exact(tmp_path, dtype):
    torch.manual_seed(1)
    tensors = {
        "a": torch.randn(3, 5, 7).to(dtype),
        "b.special": special_values(dtype),
        "c:scalar": torch.tensor(3.25, dtype=dtype),
        "d:empty": torch.zeros(0, 4, dtype=dtype),
        "e:noncontiguous": torch.randn(6, 4).to(dtype).t(),
    }
    path = tmp_path / "x.safetensors"
    write_safetensors(path, tensors, {"k": "v"})
    st = read_safetensors(path)
    assert st.metadata == {"k": "v"}
    assert sorted(st.names()) == sorted(tensors)
    bits = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16,
            torch.float64: torch.int64}[dtype]
    for name, t in tensors.items():
        back = st.torch(name)
        assert back.dtype == dtype and tuple(back.shape) == tuple(t.shape)
        assert torch.equal(back.contiguous().view(bits), t.contiguous().view(bits)), name
        # numpy view: same values (bf16 widened exactly to float32)
        np.testing.assert_array_equal(st.numpy(name), to_float_numpy(t))


def test_file_layout_follows_the_spec(tmp_path):
    path = tmp_path / "x.safetensors"
    write_safetensors(path, {"z": torch.ones(3), "y": torch.ones(2, 2, dtype=torch.float16)}, {"m": "1"})
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    assert (8 + n) % 8 == 0
    text = blob[8 : 8 + n].decode("utf-8")
    assert text == text.rstrip(" ") + " " * (len(text) - len(text.rstrip(" ")))
    header = json.loads(text)
    assert header["__metadata__"] == {"m": "1"}
    # sorted name order, contiguous from 0, covering the data section exactly
    assert header["y"] == {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}
    assert header["z"] == {"dtype": "F32", "shape": [3], "data_offsets": [8, 20]}
    assert len(blob) == 8 + n + 20
    assert np.frombuffer(blob[8 + n + 8 :], "<f4").tolist() == [1.0, 1.0, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["x.safetensors"]  # no temporary left behind


def test_writer_is_canonical(tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    write_safetensors(a, {"p": torch.arange(4.0), "q": torch.ones(2)}, {"x": "1", "y": "2"})
    write_safetensors(b, {"q": torch.ones(2), "p": torch.arange(4.0)}, {"y": "2", "x": "1"})
    assert a.read_bytes() == b.read_bytes()


def test_reader_rejects_broken_files(tmp_path):
    path = tmp_path / "x.safetensors"
    write_safetensors(path, {"t": torch.ones(4)})
    blob = path.read_bytes()

    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(blob[:-1])
    with pytest.raises(SafetensorsError, match=r"truncated\.safetensors: data section is 15 bytes but the tensors cover 16"):
        read_safetensors(bad)

    bad.write_bytes(blob[:5])
    with pytest.raises(SafetensorsError, match="too short"):
        read_safetensors(bad)

    header = json.dumps({"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}).encode()
    bad.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(SafetensorsError, match="tensor 't' starts at data offset 4, expected 0"):
        read_safetensors(bad)

    header = json.dumps({"t": {"dtype": "F8_E9", "shape": [1], "data_offsets": [0, 1]}}).encode()
    bad.write_bytes(struct.pack("<Q", len(header)) + header + b"\0")
    with pytest.raises(SafetensorsError, match="tensor 't': unsupported dtype 'F8_E9'"):
        read_safetensors(bad)


def test_writer_rejects_bad_input(tmp_path):
    with pytest.raises(SafetensorsError, match="tensor 'c': torch dtype torch.complex64 is not supported"):
        write_safetensors(tmp_path / "x.safetensors", {"c": torch.zeros(2, dtype=torch.complex64)})
    with pytest.raises(SafetensorsError, match="metadata entry 'k': keys and values must be str"):
        write_safetensors(tmp_path / "x.safetensors", {"t": torch.zeros(2)}, {"k": 1})
    with pytest.raises(SafetensorsError, match="'__metadata__' is reserved"):
        write_safetensors(tmp_path / "x.safetensors", {"__metadata__": torch.zeros(2)})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ capture


def expected_names():
    names = {}
    for layer, kind in LAYERS.items():
        params = ["weight"] if kind == "Embedding" else ["weight", "bias"]
        for p in params:
            names[f"{layer}.{p}"] = ("weight", None)
            names[f"{layer}.{p}:grad"] = ("grad_weight", None)
            names[f"{layer}.{p}:exp_avg"] = ("optimizer_state", "exp_avg")
            names[f"{layer}.{p}:exp_avg_sq"] = ("optimizer_state", "exp_avg_sq")
        names[f"{layer}:output"] = ("activation", "output")
        names[f"{layer}:grad_output"] = ("grad_activation", "output")
        if kind != "Embedding":  # token ids are integers and have no gradient
            names[f"{layer}:input"] = ("activation", "input")
            names[f"{layer}:grad_input"] = ("grad_activation", "input")
    return names


def run_dump(tmp_path, seed=0, **kwargs):
    model, opt = make_model()
    cap = Capture(model, opt, steps=[0, 1], mode="dump", out_dir=tmp_path, seed=seed, **kwargs)
    probe = {}
    train(cap, model, opt, probe=probe)
    return [read_safetensors(dump_path(tmp_path, s)) for s in (0, 1)], probe


def test_dump_names_roles_and_metadata(tmp_path):
    files, _ = run_dump(tmp_path)
    expected = expected_names()
    for step, st in enumerate(files):
        assert st.metadata["fpscope.format"] == "1"
        assert set(st.names()) == set(expected)
        assert set(st.metadata) == {"fpscope.format"} | {"fpscope.tensor." + n for n in expected}
        for name, (role, extra) in expected.items():
            raw = st.metadata["fpscope.tensor." + name]
            assert " " not in raw and raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
            meta = json.loads(raw)
            layer = name.split(":")[0].split(".")[0]
            assert meta["layer"] == layer and meta["module_type"] == LAYERS[layer]
            assert meta["role"] == role and meta["step"] == step and meta["orig_dtype"] == "float32"
            if role in ("activation", "grad_activation"):
                assert meta["io"] == extra
            if role == "optimizer_state":
                assert meta["state"] == extra
            assert "sampling" not in meta
            assert st.tensors[name].dtype == "F32"


def test_dump_values_match_the_model(tmp_path):
    model, opt = make_model()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    files, probe = run_dump(tmp_path)
    st0 = files[0]
    for key, value in initial.items():
        assert torch.equal(st0.torch(key), value), key  # weights as used in the step-0 forward
    assert torch.equal(st0.torch("fc2:output"), probe[0]["logits"])
    assert torch.equal(st0.torch("fc2:grad_output"), probe[0]["logits_grad"])
    gelu = nn.functional.gelu(st0.torch("fc1:output"))
    assert torch.equal(gelu, st0.torch("fc2:input"))
    # Linear weight gradient is dY^T X over all rows
    dy = st0.torch("fc2:grad_output").reshape(-1, VOCAB)
    x = st0.torch("fc2:input").reshape(-1, 16)
    torch.testing.assert_close(dy.t() @ x, st0.torch("fc2.weight:grad"), rtol=1e-5, atol=1e-6)
    # Adam moments after the first update: exp_avg = (1 - beta1) * grad
    torch.testing.assert_close(st0.torch("fc1.weight:exp_avg"), 0.1 * st0.torch("fc1.weight:grad"))
    assert files[1].torch("emb.weight").ne(initial["emb.weight"]).any()


def test_online_receives_what_dump_writes(tmp_path):
    files, _ = run_dump(tmp_path, max_elements_per_activation=64)
    model, opt = make_model()
    recorder = Recorder()
    train(Capture(model, opt, steps=[0, 1], mode="online", analyzer=recorder,
                  max_elements_per_activation=64), model, opt)
    assert set(recorder.received) == set(files[0].names())
    for step, st in enumerate(files):
        for name in st.names():
            array, meta = recorder.received[name][step]
            assert meta == tensor_meta(st, name)
            stored = st.numpy(name)
            assert array.dtype == stored.dtype and array.shape == stored.shape
            assert array.tobytes() == stored.tobytes(), name


def test_subsampling_is_deterministic_and_row_consistent(tmp_path):
    full, _ = run_dump(tmp_path / "full")
    limit = 64
    a, _ = run_dump(tmp_path / "a", seed=7, max_elements_per_activation=limit)
    run_dump(tmp_path / "b", seed=7, max_elements_per_activation=limit)
    c, _ = run_dump(tmp_path / "c", seed=8, max_elements_per_activation=limit)
    for s in (0, 1):
        assert sha256(dump_path(tmp_path / "a", s)) == sha256(dump_path(tmp_path / "b", s))
    assert sha256(dump_path(tmp_path / "a", 0)) != sha256(dump_path(tmp_path / "c", 0))

    for step in (0, 1):
        st, ref = a[step], full[step]
        for layer in ("ln", "fc1", "fc2"):
            metas = {io: tensor_meta(st, f"{layer}:{io}") for io in ("input", "output", "grad_input", "grad_output")}
            samplings = [m["sampling"] for m in metas.values()]
            kept = samplings[0]["kept"]
            assert all(s["method"] == "uniform_rows" and s["kept"] == kept and s["total"] == 30 and s["seed"] == 7
                       for s in samplings)
            widest = max(st.tensors[f"{layer}:{io}"].shape[-1] for io in metas)
            assert kept == limit // widest
            rows = np.sort(np.random.default_rng([7, step]).choice(30, size=kept, replace=False))
            for io, meta in metas.items():
                name = f"{layer}:{io}"
                assert meta["sampling"]["original_shape"] == list(ref.tensors[name].shape)
                whole = ref.numpy(name).reshape(30, -1)
                np.testing.assert_array_equal(st.numpy(name), whole[rows])
        # sampled GEMM: dY_s^T X_s from the sample equals the same rows of the full tensors
        dy, x = st.numpy("fc1:grad_output"), st.numpy("fc1:input")
        assert dy.shape[0] == x.shape[0]
        # weights, weight grads and optimizer state are never subsampled
        assert st.tensors["fc1.weight:grad"].shape == (16, 8)


def test_element_sampling_and_row_limit(tmp_path):
    files, _ = run_dump(tmp_path, max_elements_per_activation=8, max_rows_per_activation=4)
    meta = tensor_meta(files[0], "fc2:output")  # row of 11 > 8 elements: per-element sampling
    assert meta["sampling"] == {"method": "uniform_elements", "seed": 0, "kept": 8, "total": 330,
                                "original_shape": [3, 10, 11]}
    assert files[0].tensors["fc2:output"].shape == (8,)
    meta = tensor_meta(files[0], "emb:output")  # 8 elements per row: 1 row
    assert meta["sampling"]["method"] == "uniform_rows" and meta["sampling"]["kept"] == 1

    files, _ = run_dump(tmp_path / "rows", max_rows_per_activation=4)
    for name in ("fc1:input", "fc1:grad_output", "emb:output"):
        assert tensor_meta(files[1], name)["sampling"]["kept"] == 4
        assert files[1].tensors[name].shape[0] == 4


def test_autocast_records_the_compute_dtype(tmp_path):
    model, opt = make_model()
    train(Capture(model, opt, steps=[1], out_dir=tmp_path), model, opt, autocast_dtype=torch.bfloat16)
    assert not os.path.exists(dump_path(tmp_path, 0))
    st = read_safetensors(dump_path(tmp_path, 1))
    for name in ("fc1:input", "fc1:output", "fc1:grad_input", "fc1:grad_output", "fc2:output"):
        assert st.tensors[name].dtype == "BF16", name
        assert tensor_meta(st, name)["orig_dtype"] == "bfloat16"
    for name in ("ln:output", "fc1.weight", "fc1.weight:grad", "fc1.weight:exp_avg"):
        assert st.tensors[name].dtype == "F32", name
        assert tensor_meta(st, name)["orig_dtype"] == "float32"
    # the input as the bf16 GEMM consumed it
    assert torch.equal(st.torch("fc1:input"), st.torch("ln:output").to(torch.bfloat16))

    model, opt = make_model()
    recorder = Recorder()
    train(Capture(model, opt, steps=[1], mode="online", analyzer=recorder), model, opt,
          autocast_dtype=torch.bfloat16)
    array, meta = recorder.received["fc1:output"][1]
    assert array.dtype == np.float32 and meta["orig_dtype"] == "bfloat16"
    assert array.tobytes() == st.numpy("fc1:output").tobytes()


def test_every_and_name_regex(tmp_path):
    model, opt = make_model()
    cap = Capture(model, opt, every=2, out_dir=tmp_path, modules=None, name_regex=r"^fc")
    train(cap, model, opt, steps=3)
    assert sorted(os.listdir(tmp_path)) == ["step_000000.safetensors", "step_000002.safetensors"]
    assert cap.written == [dump_path(tmp_path, 0), dump_path(tmp_path, 2)]
    st = read_safetensors(dump_path(tmp_path, 2))
    assert {tensor_meta(st, n)["layer"] for n in st.names()} == {"fc1", "fc2"}


def test_module_called_twice_skips_its_gradients(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4))
    cap = Capture(model, steps=[0], out_dir=tmp_path)
    with cap, cap.step(0):
        x = torch.randn(2, 4)
        loss = model(model(x)).sum()
        with pytest.warns(UserWarning, match="module '0' ran 2 times at step 0"):
            loss.backward()
        cap.after_backward()
    st = read_safetensors(dump_path(tmp_path, 0))
    assert sorted(st.names()) == ["0.bias", "0.bias:grad", "0.weight", "0.weight:grad", "0:input", "0:output"]
    assert torch.equal(st.torch("0:input"), x)


def test_hooks_are_detached_outside_captured_steps(tmp_path):
    model, opt = make_model()
    cap = Capture(model, opt, steps=[5], out_dir=tmp_path)
    with cap:
        cap.step_begin(0)
        assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
        cap.step_end()
        cap.step_begin(5)
        assert model.fc1._forward_hooks and model.fc1._backward_hooks
        cap.step_end()
        assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(steps=[0], mode="stream", out_dir="x"), "mode: unknown mode 'stream', expected one of dump, online"),
        (dict(out_dir="x"), r"steps/every: give exactly one of steps=\[...\] or every=N"),
        (dict(steps=[1], every=2, out_dir="x"), "steps/every: give exactly one"),
        (dict(steps=[], out_dir="x"), "steps: the list is empty"),
        (dict(steps=[0, -1], out_dir="x"), "steps: -1 is not a non-negative int"),
        (dict(steps=[0, 1.5], out_dir="x"), "steps: 1.5 is not a non-negative int"),
        (dict(steps=[True], out_dir="x"), "steps: True is not a non-negative int"),
        (dict(steps=[3, 1, 3], out_dir="x"), r"steps: duplicate step numbers \[3\]"),
        (dict(steps="0,1", out_dir="x"), "steps: expected a list of step numbers, got str"),
        (dict(every=0, out_dir="x"), "every: expected a positive int, got 0"),
        (dict(steps=[0]), "out_dir: mode 'dump' needs an output folder"),
        (dict(steps=[0], mode="online"), r"analyzer: mode 'online' needs an object with a method add"),
        (dict(steps=[0], mode="online", analyzer=object()), "analyzer: mode 'online' needs"),
        (dict(steps=[0], out_dir="x", analyzer=Recorder()), "analyzer: only used in mode 'online'"),
        (dict(steps=[0], mode="online", analyzer=Recorder(), out_dir="x"), "out_dir: only used in mode 'dump'"),
        (dict(steps=[0], out_dir="x", max_elements_per_activation=0), "max_elements_per_activation: expected a positive int"),
        (dict(steps=[0], out_dir="x", max_rows_per_activation=2.0), "max_rows_per_activation: expected a positive int"),
        (dict(steps=[0], out_dir="x", seed=-1), "seed: expected a non-negative int"),
        (dict(steps=[0], out_dir="x", name_regex="("), r"name_regex: '\(' is not a valid regular expression"),
        (dict(steps=[0], out_dir="x", name_regex="^nope"), "no submodule of TinyNet is of Linear, .* matching '\\^nope'"),
        (dict(steps=[0], out_dir="x", modules=(nn.Conv2d,)), "no submodule of TinyNet is of Conv2d$"),
        (dict(steps=[0], out_dir="x", modules=("Linear",)), "modules: expected a tuple of nn.Module classes"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    model, opt = make_model()
    with pytest.raises(CaptureError, match=message):
        Capture(model, opt, **kwargs)


def test_bad_model_and_call_order():
    with pytest.raises(CaptureError, match="model: expected a torch.nn.Module, got str"):
        Capture("model", steps=[0], out_dir="x")
    model, opt = make_model()
    cap = Capture(model, opt, steps=[0], mode="online", analyzer=Recorder())
    with pytest.raises(CaptureError, match=r"after_backward\(\) called outside a step"):
        cap.after_backward()
    with pytest.raises(CaptureError, match=r"step_end\(\) called outside a step"):
        cap.step_end()
    with pytest.raises(CaptureError, match="step_begin: step must be a non-negative int, got -3"):
        cap.step_begin(-3)
    cap.step_begin(0)
    with pytest.raises(CaptureError, match=r"step_begin\(1\): step 0 has not been ended"):
        cap.step_begin(1)
    cap.close()
    with pytest.raises(CaptureError, match="step 2 was begun but not ended"):
        with cap:
            cap.step_begin(2)
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


def test_package_imports_without_the_extension():
    import fpscope

    assert fpscope._core is None or hasattr(fpscope._core, "__name__")
