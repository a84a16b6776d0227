"""fpscope: float-format emulation and numerical analysis of tensors.

The pure-Python parts (`fpscope.safetensors_io`, `fpscope.capture`) work on their own;
the compiled extension `fpscope._core` adds quantisation and analysis when it is built.
`fpscope.capture` needs torch and is imported on demand, not here.
"""

try:
    from . import _core  # noqa: F401  (built by CMake; absent in a pure-Python checkout)
except ImportError:
    _core = None

__all__ = ["_core"]
