"""Capture of weights, activations, gradients and Adam state from a PyTorch training loop.

Tensor naming and metadata convention (format "1"; shared with the C++ reader)
------------------------------------------------------------------------------
One safetensors file per captured step, ``step_000123.safetensors`` (step zero-padded to
six digits).  Tensor names, where ``<layer>`` is the module's qualified name from
``model.named_modules()`` (e.g. ``blocks.0.mlp.fc1``):

    <layer>.weight, <layer>.bias            parameters                 role weight
    <layer>.weight:grad, <layer>.bias:grad  parameter gradients        role grad_weight
    <layer>:input, <layer>:output           module input / output      role activation
    <layer>:grad_input, <layer>:grad_output d loss / d input, output   role grad_activation
    <layer>.weight:exp_avg, ...:exp_avg_sq  Adam moments (also bias)   role optimizer_state

``__metadata__`` holds ``"fpscope.format": "1"`` and, for each tensor, the key
``"fpscope.tensor." + <tensor name>`` whose value is a compact JSON object (sorted keys,
no spaces) with:

    layer        module qualified name
    role         weight | activation | grad_weight | grad_activation | optimizer_state
    step         int
    module_type  class name, e.g. "Linear", "LayerNorm", "Embedding"
    orig_dtype   torch dtype name the tensor was computed in: "float32", "bfloat16", ...
    io           "input" | "output"          (activations and activation gradients only)
    state        "exp_avg" | "exp_avg_sq"    (optimizer state only)
    sampling     present only when subsampled:
                 {"method": "uniform_rows" | "uniform_elements", "seed": int,
                  "kept": int, "total": int, "original_shape": [...]}

Subsampling.  Activations and activation gradients larger than the limits are
subsampled; weights, weight gradients and optimizer state never are.  A tensor is seen
as rows = all leading dimensions flattened, one row per vector along the last dimension.
``uniform_rows`` keeps ``kept`` of the ``total`` rows; the stored tensor has shape
``[kept, last_dim]``.  The kept row indices are
``numpy.sort(numpy.random.default_rng([seed, step]).choice(total, size=kept, replace=False))``,
so every tensor of every layer with the same row count and ``kept`` keeps the same rows
at a step; in particular a module's ``:input``, ``:output``, ``:grad_input`` and
``:grad_output`` keep the same rows (``kept`` is chosen per module from its widest
tensor), so for an ``nn.Linear`` the sampled ``grad_output^T @ input`` is the weight
gradient's contribution from exactly those rows.  ``uniform_elements`` (1-D tensors, or
a single row above the element limit) keeps ``kept`` of the ``total`` elements of the
flattened tensor with the same formula, stored 1-D.

Autocast.  When a module runs under ``torch.autocast``, its activations and activation
gradients are recorded in the dtype of the module's output, which is the dtype it computed
in (an ``nn.Linear`` under bf16 autocast: input, output and both gradients as bfloat16,
exactly what the GEMMs consumed and produced).  Parameters, their gradients and optimizer
state are recorded in their own dtype (float32 master weights under autocast).

Usage
-----
    from fpscope.capture import Capture

    with Capture(model, optimizer, steps=[0, 500, 999], mode="dump", out_dir="dump",
                 max_elements_per_activation=16384) as cap:
        for step in range(1000):
            cap.step_begin(step)            # hooks are attached only at captured steps
            loss = loss_fn(model(x), y)     # forward hooks: :input, :output
            loss.backward()                 # backward hooks: :grad_output, :grad_input
            cap.after_backward()            # parameters and their gradients
            optimizer.step()
            cap.after_optimizer_step()      # Adam exp_avg / exp_avg_sq after the update
            optimizer.zero_grad()
            cap.step_end()                  # dump: writes step_000000.safetensors

``with cap.step(step): ...`` is the same as ``step_begin``/``step_end`` around the body.
In ``mode="online"`` nothing is written: each tensor is passed as it is captured to
``analyzer.add(name, array, meta)`` with ``array`` a float numpy copy (float64, float32,
float16; bfloat16 widened exactly to float32) holding the same values the dump would
store, and ``meta`` the dict the dump would store as JSON.

Selection: modules that are instances of ``modules`` (``None``: any type) and whose
qualified name matches ``name_regex`` (``re.search``; ``None``: any name).  The root
module itself is never selected.  Only a module's first call in a step is captured;
when a module runs more than once in a step (weight sharing) its activation gradients
are skipped with a warning, since they cannot be matched to one call.  Only the first
tensor input and the first tensor output of a module are recorded; integer tensors (the
token ids of an ``nn.Embedding``) are skipped.  Full backward hooks are used, so a hooked
module's output must not be modified in place (e.g. ``nn.ReLU(inplace=True)`` right after
it); this is a PyTorch restriction.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import warnings
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from .safetensors_io import to_float_numpy, write_safetensors

__all__ = ["Capture", "CaptureError", "DEFAULT_MODULES", "ROLES", "FORMAT_VERSION", "dump_path"]

FORMAT_VERSION = "1"
ROLES = ("weight", "activation", "grad_weight", "grad_activation", "optimizer_state")
DEFAULT_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Embedding, nn.LayerNorm)
OPTIMIZER_STATES = ("exp_avg", "exp_avg_sq")
MODES = ("dump", "online")


class CaptureError(ValueError):
    """A bad argument to Capture, or its methods called out of order."""


def dump_path(out_dir: str | os.PathLike, step: int) -> str:
    """The file a dump-mode capture writes for `step`."""
    return os.path.join(os.fspath(out_dir), f"step_{step:06d}.safetensors")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _autocast_active(device_type: str) -> bool:
    if device_type == "cuda":
        return torch.is_autocast_enabled()
    if device_type == "cpu":
        return torch.is_autocast_cpu_enabled()
    return False


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            if isinstance(item, torch.Tensor):
                return item
    return None


def _floating(t: torch.Tensor | None) -> bool:
    return t is not None and t.is_floating_point()


def _rows(t: torch.Tensor) -> tuple[int, int]:
    """(row count, row length) when the last dimension is the row."""
    width = int(t.shape[-1])
    return (t.numel() // width if width else 0), width


class _Plan:
    """How one module's activation tensors are subsampled at one step."""

    def __init__(self, rows_total: int | None = None, rows_kept: int | None = None,
                 row_index: torch.Tensor | None = None):
        self.rows_total = rows_total
        self.rows_kept = rows_kept
        self.row_index = row_index


class _LayerState:
    def __init__(self):
        self.calls = 0
        self.compute_dtype: torch.dtype | None = None
        self.autocast = False
        self.plan = _Plan()
        self.warned = False


class Capture:
    """Hooks that record tensors of a training loop at chosen steps (see the module docstring).

    Arguments (all but `model` and `optimizer` keyword-only):
      model        the torch.nn.Module being trained
      optimizer    optional; its `exp_avg`/`exp_avg_sq` state is recorded (Adam, AdamW)
      modules      module classes to capture (tuple), or None for any class
      name_regex   only modules whose qualified name matches (re.search)
      steps        list of step numbers to capture, or
      every        capture the steps that are multiples of `every`
      mode         "dump" (one safetensors file per step in `out_dir`) or
                   "online" (each tensor to `analyzer.add(name, array, meta)`)
      max_elements_per_activation, max_rows_per_activation
                   subsampling limits for activations and their gradients
      seed         subsampling seed
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        modules: Iterable[type] | type | None = DEFAULT_MODULES,
        name_regex: str | None = None,
        steps: Iterable[int] | None = None,
        every: int | None = None,
        mode: str = "dump",
        out_dir: str | os.PathLike | None = None,
        max_elements_per_activation: int | None = None,
        max_rows_per_activation: int | None = None,
        seed: int = 0,
        analyzer: Any = None,
    ):
        if not isinstance(model, nn.Module):
            raise CaptureError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        if optimizer is not None and not hasattr(optimizer, "state"):
            raise CaptureError(
                f"optimizer: expected a torch.optim.Optimizer or None, got {type(optimizer).__name__}"
            )
        self.model = model
        self.optimizer = optimizer

        if mode not in MODES:
            raise CaptureError(f"mode: unknown mode {mode!r}, expected one of {', '.join(MODES)}")
        self.mode = mode
        if mode == "dump":
            if out_dir is None:
                raise CaptureError("out_dir: mode 'dump' needs an output folder")
            if analyzer is not None:
                raise CaptureError("analyzer: only used in mode 'online'; mode is 'dump'")
            self.out_dir = os.fspath(out_dir)
        else:
            if analyzer is None or not callable(getattr(analyzer, "add", None)):
                raise CaptureError("analyzer: mode 'online' needs an object with a method add(name, array, meta)")
            if out_dir is not None:
                raise CaptureError("out_dir: only used in mode 'dump'; mode is 'online'")
            self.out_dir = None
        self.analyzer = analyzer

        self.steps, self.every = self._check_schedule(steps, every)

        for arg, value in (("max_elements_per_activation", max_elements_per_activation),
                           ("max_rows_per_activation", max_rows_per_activation)):
            if value is not None and (not _is_int(value) or value < 1):
                raise CaptureError(f"{arg}: expected a positive int or None, got {value!r}")
        self.max_elements = None if max_elements_per_activation is None else int(max_elements_per_activation)
        self.max_rows = None if max_rows_per_activation is None else int(max_rows_per_activation)
        if not _is_int(seed) or seed < 0:
            raise CaptureError(f"seed: expected a non-negative int, got {seed!r}")
        self.seed = int(seed)

        self.layers = self._select_modules(model, modules, name_regex)

        self._step: int | None = None
        self._active = False
        self._params_recorded = False
        self._handles: list = []
        self._layer_state: dict[str, _LayerState] = {}
        self._pending: dict[str, tuple[torch.Tensor, dict]] = {}
        self._recorded: set[str] = set()
        self._row_index_cache: dict[tuple[int, int], torch.Tensor] = {}
        self.written: list[str] = []

    # ----------------------------------------------------------------- arguments

    @staticmethod
    def _check_schedule(steps, every) -> tuple[frozenset[int] | None, int | None]:
        if (steps is None) == (every is None):
            raise CaptureError("steps/every: give exactly one of steps=[...] or every=N")
        if every is not None:
            if not _is_int(every) or every < 1:
                raise CaptureError(f"every: expected a positive int, got {every!r}")
            return None, int(every)
        if isinstance(steps, (str, bytes)) or not isinstance(steps, Iterable):
            raise CaptureError(f"steps: expected a list of step numbers, got {type(steps).__name__}")
        steps = list(steps)
        if not steps:
            raise CaptureError("steps: the list is empty; nothing would be captured")
        for s in steps:
            if not _is_int(s) or s < 0:
                raise CaptureError(f"steps: {s!r} is not a non-negative int")
        if len(set(steps)) != len(steps):
            dup = sorted({s for s in steps if steps.count(s) > 1})
            raise CaptureError(f"steps: duplicate step numbers {dup}")
        return frozenset(int(s) for s in steps), None

    @staticmethod
    def _select_modules(model, modules, name_regex) -> list[tuple[str, nn.Module]]:
        if isinstance(modules, type):
            modules = (modules,)
        if modules is not None:
            modules = tuple(modules)
            bad = [m for m in modules if not (isinstance(m, type) and issubclass(m, nn.Module))]
            if bad or not modules:
                raise CaptureError(f"modules: expected a tuple of nn.Module classes or None, got {modules!r}")
        pattern = None
        if name_regex is not None:
            try:
                pattern = re.compile(name_regex)
            except (re.error, TypeError) as e:
                raise CaptureError(f"name_regex: {name_regex!r} is not a valid regular expression: {e}") from None
        selected = [
            (name, module)
            for name, module in model.named_modules()
            if name
            and (modules is None or isinstance(module, modules))
            and (pattern is None or pattern.search(name))
        ]
        if not selected:
            kinds = "any type" if modules is None else ", ".join(m.__name__ for m in modules)
            raise CaptureError(
                f"modules/name_regex: no submodule of {type(model).__name__} is of {kinds}"
                + ("" if name_regex is None else f" with a name matching {name_regex!r}")
            )
        return selected

    # ----------------------------------------------------------------- step protocol

    def wants(self, step: int) -> bool:
        """Whether `step` is one of the captured steps."""
        if self.steps is not None:
            return step in self.steps
        return step % self.every == 0

    def step_begin(self, step: int) -> None:
        """Start step `step`; at a captured step, attach the forward and backward hooks."""
        if self._step is not None:
            raise CaptureError(f"step_begin({step}): step {self._step} has not been ended with step_end()")
        if not _is_int(step) or step < 0:
            raise CaptureError(f"step_begin: step must be a non-negative int, got {step!r}")
        self._step = int(step)
        self._active = self.wants(self._step)
        self._params_recorded = False
        self._layer_state = {}
        self._pending = {}
        self._recorded = set()
        self._row_index_cache = {}
        if self._active:
            for layer, module in self.layers:
                self._handles.append(module.register_forward_hook(self._forward_hook(layer)))
                self._handles.append(module.register_full_backward_hook(self._backward_hook(layer)))

    def after_backward(self) -> None:
        """Call after loss.backward(): records parameters and their gradients, detaches hooks."""
        self._require_step("after_backward")
        if not self._active:
            return
        self._remove_hooks()
        self._record_parameters(with_grads=True)

    def after_optimizer_step(self) -> None:
        """Call after optimizer.step(): records Adam exp_avg / exp_avg_sq (state after the update)."""
        self._require_step("after_optimizer_step")
        if not self._active or self.optimizer is None:
            return
        for layer, module in self.layers:
            for pname, param in module.named_parameters(recurse=False):
                state = self.optimizer.state.get(param, {})
                for key in OPTIMIZER_STATES:
                    value = state.get(key)
                    if isinstance(value, torch.Tensor) and value.is_floating_point():
                        self._record(f"{layer}.{pname}:{key}", value,
                                     self._meta(layer, module, "optimizer_state", value.dtype, state=key))

    def step_end(self) -> str | None:
        """End the step; in dump mode write the step's file and return its path."""
        self._require_step("step_end")
        step, active = self._step, self._active
        self._remove_hooks()
        try:
            if not active:
                return None
            if not self._params_recorded:
                self._record_parameters(with_grads=False)
            if self.mode != "dump":
                return None
            os.makedirs(self.out_dir, exist_ok=True)
            path = dump_path(self.out_dir, step)
            metadata = {"fpscope.format": FORMAT_VERSION}
            tensors = {}
            for name, (tensor, meta) in self._pending.items():
                tensors[name] = tensor
                metadata["fpscope.tensor." + name] = json.dumps(meta, sort_keys=True, separators=(",", ":"))
            write_safetensors(path, tensors, metadata)
            self.written.append(path)
            return path
        finally:
            self._step = None
            self._active = False
            self._pending = {}
            self._layer_state = {}

    @contextlib.contextmanager
    def step(self, step: int):
        """`with cap.step(i): ...` runs step_begin(i) before and step_end() after the body."""
        self.step_begin(step)
        try:
            yield self
        except BaseException:
            self._abandon_step()
            raise
        self.step_end()

    def close(self) -> None:
        """Detach all hooks and drop an unfinished step."""
        self._abandon_step()

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        open_step = self._step
        self._abandon_step()
        if exc_type is None and open_step is not None:
            raise CaptureError(f"step {open_step} was begun but not ended with step_end()")

    # ----------------------------------------------------------------- internals

    def _abandon_step(self) -> None:
        self._remove_hooks()
        self._step = None
        self._active = False
        self._pending = {}
        self._layer_state = {}

    def _require_step(self, what: str) -> None:
        if self._step is None:
            raise CaptureError(f"{what}() called outside a step; call step_begin(step) first")

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _meta(self, layer: str, module: nn.Module, role: str, dtype: torch.dtype, **extra) -> dict:
        meta = {
            "layer": layer,
            "role": role,
            "step": self._step,
            "module_type": type(module).__name__,
            "orig_dtype": _dtype_name(dtype),
        }
        meta.update({k: v for k, v in extra.items() if v is not None})
        return meta

    def _record(self, name: str, tensor: torch.Tensor, meta: dict) -> None:
        if name in self._recorded:
            raise CaptureError(f"tensor '{name}' captured twice at step {self._step}")
        self._recorded.add(name)
        if self.mode == "dump":
            self._pending[name] = (tensor.detach().to("cpu", copy=True), meta)
        else:
            self.analyzer.add(name, to_float_numpy(tensor), dict(meta))

    def _record_parameters(self, with_grads: bool) -> None:
        self._params_recorded = True
        for layer, module in self.layers:
            for pname, param in module.named_parameters(recurse=False):
                self._record(f"{layer}.{pname}", param, self._meta(layer, module, "weight", param.dtype))
            if with_grads:
                for pname, param in module.named_parameters(recurse=False):
                    if param.grad is not None:
                        self._record(f"{layer}.{pname}:grad", param.grad,
                                     self._meta(layer, module, "grad_weight", param.grad.dtype))

    # Subsampling ---------------------------------------------------------------

    def _choose(self, total: int, kept: int) -> torch.Tensor:
        key = (total, kept)
        if key not in self._row_index_cache:
            rng = np.random.default_rng([self.seed, self._step])
            index = np.sort(rng.choice(total, size=kept, replace=False))
            self._row_index_cache[key] = torch.from_numpy(index.astype(np.int64))
        return self._row_index_cache[key]

    def _make_plan(self, tensors: list[torch.Tensor]) -> _Plan:
        """Rows to keep for one module, from its input and output (grads have the same shapes)."""
        if self.max_elements is None and self.max_rows is None:
            return _Plan()
        if not tensors or any(t.dim() < 2 for t in tensors):
            return _Plan()
        shapes = {_rows(t)[0] for t in tensors}
        if len(shapes) != 1:
            return _Plan()
        total = shapes.pop()
        widest = max(_rows(t)[1] for t in tensors)
        kept = total
        if self.max_rows is not None:
            kept = min(kept, self.max_rows)
        if self.max_elements is not None and widest > 0:
            kept = min(kept, self.max_elements // widest)
        if kept < 1 or kept >= total:
            return _Plan()  # no row sampling: either nothing to cut, or one row is too wide
        return _Plan(total, kept, self._choose(total, kept))

    def _sample(self, tensor: torch.Tensor, plan: _Plan) -> tuple[torch.Tensor, dict | None]:
        if tensor.dim() >= 2 and plan.row_index is not None and _rows(tensor)[0] == plan.rows_total:
            rows = tensor.detach().reshape(plan.rows_total, tensor.shape[-1])
            sampled = rows.index_select(0, plan.row_index.to(tensor.device))
            return sampled, {"method": "uniform_rows", "seed": self.seed, "kept": plan.rows_kept,
                             "total": plan.rows_total, "original_shape": list(tensor.shape)}
        if self.max_elements is not None and tensor.numel() > self.max_elements:
            index = self._choose(tensor.numel(), self.max_elements)
            sampled = tensor.detach().reshape(-1).index_select(0, index.to(tensor.device))
            return sampled, {"method": "uniform_elements", "seed": self.seed, "kept": self.max_elements,
                             "total": tensor.numel(), "original_shape": list(tensor.shape)}
        return tensor, None

    # Hooks ---------------------------------------------------------------------

    def _forward_hook(self, layer: str):
        def hook(module, args, output):
            state = self._layer_state.setdefault(layer, _LayerState())
            state.calls += 1
            if state.calls > 1:
                return
            inp = _first_tensor(args)
            out = _first_tensor(output)
            inp = inp if _floating(inp) else None
            out = out if _floating(out) else None
            device = (out if out is not None else inp).device.type if (out is not None or inp is not None) else "cpu"
            state.autocast = _autocast_active(device)
            state.compute_dtype = out.dtype if out is not None else (inp.dtype if inp is not None else None)
            if state.autocast and inp is not None and inp.dtype != state.compute_dtype:
                # Autocast casts the input inside the op; record it as the op consumed it.
                inp = inp.to(state.compute_dtype)
            state.plan = self._make_plan([t for t in (inp, out) if t is not None])
            for io, tensor in (("input", inp), ("output", out)):
                if tensor is not None:
                    self._record_activation(layer, module, f"{layer}:{io}", tensor, "activation", io, state)

        return hook

    def _backward_hook(self, layer: str):
        def hook(module, grad_input, grad_output):
            state = self._layer_state.get(layer)
            if state is None or state.calls != 1:
                if state is not None and not state.warned:
                    state.warned = True
                    warnings.warn(
                        f"fpscope capture: module '{layer}' ran {state.calls} times at step {self._step}; "
                        "its activation gradients are not captured",
                        stacklevel=2,
                    )
                return
            for io, grads in (("output", grad_output), ("input", grad_input)):
                grad = _first_tensor(grads)
                if not _floating(grad):
                    continue
                if state.autocast and state.compute_dtype is not None and grad.dtype != state.compute_dtype:
                    grad = grad.to(state.compute_dtype)
                self._record_activation(layer, module, f"{layer}:grad_{io}", grad, "grad_activation", io, state)

        return hook

    def _record_activation(self, layer, module, name, tensor, role, io, state) -> None:
        sampled, sampling = self._sample(tensor, state.plan)
        self._record(name, sampled, self._meta(layer, module, role, tensor.dtype, io=io, sampling=sampling))
