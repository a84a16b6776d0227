"""fpscope: float-format emulation and numerical analysis of tensors.

The pure-Python parts (`fpscope.safetensors_io`, `fpscope.capture`) work on their own;
the compiled extension `fpscope._core` (built by CMake into build/python/fpscope)
adds the functions below. They call the same C++ as the `fpscope` command, so
their results are identical to the CLI's.

    import numpy as np, fpscope
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    y = fpscope.quantize(x, "e4m3", rounding="sr", seed=1)
    bits = fpscope.encode(x, "e4m3")                # uint8 encodings
    doc = fpscope.analyze({"x": x}, formats=["e4m3", "bf16"], recipes=["none", "tensor"])

Arrays: NumPy arrays or CPU torch tensors, float32 or float64 (float16 too for
analysis). C-contiguous arrays are used in place; others are copied first.
torch bfloat16 tensors are widened to float32 (exact) before analysis.
`fpscope.capture` needs torch and is imported on demand, not here.
"""

import json as _json

try:
    from . import _core  # built by CMake; absent in a pure-Python checkout
except ImportError:
    _core = None

DEFAULT_FORMATS = ("bf16", "fp16", "e4m3", "e5m2", "e2m1")
DEFAULT_RECIPES = ("none", "tensor", "mx", "nvfp4")
DEFAULT_ROUNDING = ("rne",)


def _need_core():
    if _core is None:
        raise ImportError("fpscope._core is not built: run `make` and put build/python on PYTHONPATH")
    return _core


def _to_numpy(array):
    """A NumPy view of a NumPy array or a CPU torch tensor (and a flag: was it torch?)."""
    if hasattr(array, "detach") and hasattr(array, "numpy"):  # a torch tensor, without importing torch
        if array.device.type != "cpu":
            raise ValueError(f"tensor on device {array.device}: move it to the CPU first")
        tensor = array.detach()
        if str(tensor.dtype) == "torch.bfloat16":
            tensor = tensor.float()  # exact: every bf16 value is a float32 value
        return tensor.numpy(), True
    import numpy as np

    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected a NumPy array or a torch tensor, got {type(array).__name__}")
    return array, False


def _like_input(result, was_torch):
    if was_torch:
        import torch

        return torch.from_numpy(result)
    return result


def quantize(array, format, rounding="rne", recipe="none", seed=0, threads=1):
    """The values `array` holds after rounding to `format` (with a scaling `recipe`); same dtype."""
    values, was_torch = _to_numpy(array)
    return _like_input(_need_core().quantize(values, format, rounding, recipe, seed, threads), was_torch)


def encode(array, format, rounding="rne", seed=0, threads=1):
    """The encodings of `array` in `format`, as the narrowest unsigned integer type that holds them."""
    values, was_torch = _to_numpy(array)
    return _like_input(_need_core().encode(values, format, rounding, seed, threads), was_torch)


def decode(bits, format, dtype="float32"):
    """The values of encodings `bits` of `format`, as float32 or float64."""
    values, was_torch = _to_numpy(bits)
    return _like_input(_need_core().decode(values, format, dtype), was_torch)


def formats():
    """Every preset format with its derived properties (the table of `fpscope formats --json`)."""
    return _json.loads(_need_core().formats_json())


class Accumulator:
    """Streams tensors through the analysis engine, keeping only statistics.

    acc.add(name, array, meta) analyses a tensor at once (meta: the capture's
    per-tensor metadata dict, or None to infer role and layer from the name);
    acc.merge(other) joins another accumulator's tensors; acc.result() is the
    result document of `fpscope analyze --json` (schema 1.0). Usable as the
    `analyzer` of fpscope.capture.Capture(mode="online").
    """

    def __init__(self, formats=DEFAULT_FORMATS, recipes=DEFAULT_RECIPES, rounding=DEFAULT_ROUNDING,
                 seed=0, threads=1):
        if isinstance(formats, str) or isinstance(recipes, str) or isinstance(rounding, str):
            raise TypeError("formats, recipes and rounding are lists of names, e.g. ['e4m3', 'bf16']")
        self._acc = _need_core().Accumulator(list(formats), list(recipes), list(rounding), seed, threads)

    def add(self, name, array, meta=None):
        values, _ = _to_numpy(array)
        self._acc.add(name, values, meta)

    def merge(self, other):
        self._acc.merge(other._acc)

    def __len__(self):
        return len(self._acc)

    def result(self):
        return self._acc.result()

    def result_json(self):
        return self._acc.result_json()


def analyze(tensors, formats=DEFAULT_FORMATS, recipes=DEFAULT_RECIPES, rounding=DEFAULT_ROUNDING, seed=0,
            threads=1):
    """Analyses tensors given as {name: array} or [(name, array[, meta]), ...]; returns the result document."""
    acc = Accumulator(formats, recipes, rounding, seed, threads)
    items = tensors.items() if isinstance(tensors, dict) else tensors
    for item in items:
        if len(item) == 2:
            acc.add(item[0], item[1])
        elif len(item) == 3:
            acc.add(item[0], item[1], item[2])
        else:
            raise ValueError("each tensor is (name, array) or (name, array, meta)")
    return acc.result()


__all__ = ["quantize", "encode", "decode", "formats", "analyze", "Accumulator", "DEFAULT_FORMATS",
           "DEFAULT_RECIPES", "DEFAULT_ROUNDING"]
