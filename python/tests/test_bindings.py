"""Tests of the compiled bindings (fpscope._core): the same results as the `fpscope` command."""

import json
import subprocess

import numpy as np
import pytest

MODES = ["rne", "rna", "rtz", "rup", "rdn", "rto", "sr", "sr:7"]


def sample(fmt, dtype, n=3000, seed=0):
    """Values across the format's whole range (and beyond), both signs, plus specials and zeros."""
    rng = np.random.default_rng(seed)
    lo = np.log2(fmt["min_subnormal"]) - 2
    hi = min(np.log2(fmt["max_finite"]) + 2, 1020 if dtype == np.float64 else 127)
    lo = max(lo, -1070 if dtype == np.float64 else -148)
    mags = np.exp2(rng.uniform(lo, hi, n))
    values = mags * rng.choice([-1.0, 1.0], n)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, fmt["max_finite"], -fmt["max_finite"], fmt["min_normal"],
                fmt["min_subnormal"], fmt["min_subnormal"] / 2, 1.0, -1.0]
    with np.errstate(over="ignore"):
        return np.concatenate([values, specials]).astype(dtype)


def bits_of(array):
    return array.view(np.uint64 if array.dtype == np.float64 else np.uint32)


def run_cli(fpscope_bin, *args):
    done = subprocess.run([fpscope_bin, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("mode", MODES)
def test_quantize_and_encode_equal_the_cli_for_every_preset(core, fpscope_bin, tmp_path, mode):
    for fmt in core.formats():
        name = fmt["name"]
        dtype = np.float64 if fmt["bits"] > 32 else np.float32
        x = sample(fmt, dtype, seed=len(name))
        src = tmp_path / f"{name}.npy"
        np.save(src, x)
        run_cli(fpscope_bin, "quantize", str(src), str(tmp_path / "q.npy"), "--format", name, "--rounding", mode,
                "--seed", "7")
        run_cli(fpscope_bin, "quantize", str(src), str(tmp_path / "b.npy"), "--format", name, "--rounding", mode,
                "--seed", "7", "--emit", "bits")
        cli_values = np.load(tmp_path / "q.npy")
        cli_bits = np.load(tmp_path / "b.npy")
        values = core.quantize(x, name, rounding=mode, seed=7)
        bits = core.encode(x, name, rounding=mode, seed=7)
        assert values.dtype == x.dtype and values.shape == x.shape
        assert np.array_equal(bits_of(values), bits_of(cli_values)), (name, mode)
        assert bits.dtype == cli_bits.dtype and np.array_equal(bits, cli_bits), (name, mode)
        decoded = core.decode(bits, name, dtype="float64" if dtype == np.float64 else "float32")
        assert np.array_equal(decoded, values, equal_nan=True), (name, mode)


def test_stochastic_rounding_depends_on_seed_and_index_only(core):
    x = np.full(4096, 1.0 + 2.0**-5, dtype=np.float32)  # a quarter of e4m3's gap above 1
    a = core.quantize(x, "e4m3", rounding="sr", seed=3)
    b = core.quantize(x, "e4m3", rounding="sr", seed=3, threads=2)
    c = core.quantize(x, "e4m3", rounding="sr", seed=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert abs(np.mean(a == 1.125) - 0.25) < 0.05


def test_torch_tensors_in_and_out(core):
    torch = pytest.importorskip("torch")
    x = torch.linspace(-3, 3, 101)
    y = core.quantize(x, "e2m1")
    assert isinstance(y, torch.Tensor)
    assert np.array_equal(y.numpy(), core.quantize(x.numpy(), "e2m1"))
    bf = x.to(torch.bfloat16)
    assert np.array_equal(core.quantize(bf, "bf16").numpy(), bf.float().numpy())


def test_non_contiguous_arrays_are_copied_not_misread(core):
    x = np.random.default_rng(1).standard_normal((64, 64)).astype(np.float32)
    view = x[:, ::2]
    assert not view.flags.c_contiguous
    assert np.array_equal(core.quantize(view, "e5m2"), core.quantize(np.ascontiguousarray(view), "e5m2"))
    assert np.array_equal(core.quantize(x.T, "e5m2"), core.quantize(np.ascontiguousarray(x.T), "e5m2"))


def test_recipes_scale_before_rounding(core):
    x = np.random.default_rng(2).standard_normal((8, 64)).astype(np.float64) * 1e-3
    plain = core.quantize(x, "e2m1")
    mx = core.quantize(x, "e2m1", recipe="mx")
    assert np.count_nonzero(plain) < x.size // 10  # most values underflow e2m1 unscaled
    assert np.count_nonzero(mx) > x.size // 2      # MX blocks bring them into range
    assert np.max(np.abs(mx - x)) < np.max(np.abs(x))


def test_formats_equal_the_cli_table(core, fpscope_bin):
    cli = json.loads(run_cli(fpscope_bin, "formats", "--json").stdout)
    assert core.formats() == cli


def test_bad_arguments_raise_clear_exceptions(core):
    x = np.ones(4, dtype=np.float32)
    with pytest.raises(ValueError, match="format 'e9m9x'"):
        core.quantize(x, "e9m9x")
    with pytest.raises(ValueError, match="unknown format; expected a preset"):
        core.encode(x, "fp7")
    with pytest.raises(ValueError, match="int64 is not float32 or float64"):
        core.quantize(np.arange(4), "e4m3")
    with pytest.raises(ValueError, match="rounding"):
        core.quantize(x, "e4m3", rounding="nearest-ish")
    with pytest.raises(ValueError, match="does not apply"):
        core.quantize(x, "bf16", recipe="mx")
    with pytest.raises(ValueError, match="expected uint8"):
        core.decode(np.zeros(3, dtype=np.uint16), "e4m3")
    with pytest.raises(TypeError, match="NumPy array or a torch tensor"):
        core.quantize([1.0, 2.0], "e4m3")
    with pytest.raises(TypeError, match="lists of names"):
        core.Accumulator(formats="e4m3")
    with pytest.raises(ValueError, match="not a float type"):
        core.Accumulator(formats=["e4m3"], recipes=["none"]).add("t", np.arange(3))


def test_read_file_is_bit_exact(core, tmp_path):
    from fpscope.safetensors_io import read_safetensors, write_safetensors

    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(5)
    tensors = {
        "a.weight": torch.randn(7, 5, generator=g),
        "b:input": torch.randn(3, 4, generator=g).to(torch.bfloat16),
        "c": torch.randn(9, generator=g).to(torch.float16),
        "d": torch.randn(2, 2, generator=g).to(torch.float64),
        "e": torch.zeros(0, 3),
    }
    path = tmp_path / "t.safetensors"
    write_safetensors(str(path), tensors, {})
    ours = {name: (info, values) for name, info, values in core._core.read_file(str(path))}
    assert set(ours) == set(tensors)
    reference = read_safetensors(str(path))
    for name, tensor in tensors.items():
        info, values = ours[name]
        assert list(info["shape"]) == list(tensor.shape)
        expected = tensor.double().numpy()
        assert np.array_equal(values, expected), name
    assert ours["a.weight"][0]["role"] == "weight" and ours["a.weight"][0]["role_inferred"]
    assert reference is not None


def test_accumulator_merge_equals_one_pass(core):
    rng = np.random.default_rng(3)
    tensors = [(f"l{i}.weight", rng.standard_normal((16, 32)).astype(np.float32)) for i in range(4)]
    one = core.Accumulator(formats=["e4m3", "bf16"], recipes=["none", "tensor"])
    for name, t in tensors:
        one.add(name, t)
    left = core.Accumulator(formats=["e4m3", "bf16"], recipes=["none", "tensor"])
    right = core.Accumulator(formats=["e4m3", "bf16"], recipes=["none", "tensor"])
    for name, t in tensors[:2]:
        left.add(name, t)
    for name, t in tensors[2:]:
        right.add(name, t)
    left.merge(right)
    assert len(left) == 4
    assert left.result_json() == one.result_json()
    other = core.Accumulator(formats=["e5m2"], recipes=["none"])
    with pytest.raises(ValueError, match="different formats"):
        left.merge(other)
