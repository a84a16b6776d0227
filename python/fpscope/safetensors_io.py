"""Reading and writing safetensors files by hand (no dependency on the safetensors package).

Layout (https://github.com/huggingface/safetensors, "Format"):

    [8 bytes]  N, little-endian unsigned 64-bit: length of the header
    [N bytes]  UTF-8 JSON object, padded with spaces so that 8 + N is a multiple of 8:
               {"__metadata__": {str: str, ...},
                "<tensor name>": {"dtype": "F32", "shape": [2, 3],
                                  "data_offsets": [begin, end]}, ...}
    [rest]     the data section: each tensor's bytes, little-endian, C order;
               offsets are relative to the start of the data section, and the
               tensors tile it exactly (no gaps, no overlap, nothing after).

The writer is canonical: tensors are laid out in sorted name order and the JSON keys
are sorted, so the same tensors and metadata always give the same bytes.  Files are
written to a temporary file in the destination folder and renamed into place.

Only numpy is required; torch tensors are accepted (and returned by
`SafetensorsFile.torch`) when torch is installed.  bfloat16, which numpy lacks, is
carried as its raw 16-bit patterns; `SafetensorsFile.numpy` widens it to float32,
which is exact.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

__all__ = [
    "SafetensorsError",
    "StoredTensor",
    "SafetensorsFile",
    "write_safetensors",
    "read_safetensors",
    "to_float_numpy",
]

# Largest header we accept when reading; the reference implementation uses the same bound.
MAX_HEADER_BYTES = 100_000_000

# safetensors dtype name -> numpy little-endian storage dtype.  BF16 is stored as its raw
# bit pattern (uint16) because numpy has no bfloat16.
_NUMPY_STORAGE = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

_NUMPY_TO_NAME = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint64"): "U64",
    np.dtype("uint32"): "U32",
    np.dtype("uint16"): "U16",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}


class SafetensorsError(ValueError):
    """A safetensors file, or a tensor handed to the writer, is not acceptable.

    The message names the file and, where there is one, the tensor.
    """


@dataclass(frozen=True)
class StoredTensor:
    """One tensor as stored: safetensors dtype name, shape and raw little-endian bytes."""

    dtype: str
    shape: tuple[int, ...]
    data: bytes


def _torch_dtype_names() -> dict:
    import torch

    return {
        torch.float64: "F64",
        torch.float32: "F32",
        torch.float16: "F16",
        torch.bfloat16: "BF16",
        torch.int64: "I64",
        torch.int32: "I32",
        torch.int16: "I16",
        torch.int8: "I8",
        torch.uint8: "U8",
        torch.bool: "BOOL",
    }


def _encode(name: str, value: Any, path: str) -> StoredTensor:
    """Turn a torch tensor, numpy array or StoredTensor into dtype name, shape and bytes."""
    if isinstance(value, StoredTensor):
        return value
    if isinstance(value, np.ndarray):
        dtype_name = _NUMPY_TO_NAME.get(value.dtype.newbyteorder("="))
        if dtype_name is None:
            raise SafetensorsError(
                f"{path}: tensor '{name}': numpy dtype {value.dtype} has no safetensors equivalent"
            )
        storage = _NUMPY_STORAGE[dtype_name]
        data = np.ascontiguousarray(value, dtype=storage).tobytes(order="C")
        return StoredTensor(dtype_name, tuple(int(d) for d in value.shape), data)
    try:
        import torch
    except ImportError:  # pragma: no cover - only without torch
        torch = None
    if torch is not None and isinstance(value, torch.Tensor):
        dtype_name = _torch_dtype_names().get(value.dtype)
        if dtype_name is None:
            raise SafetensorsError(
                f"{path}: tensor '{name}': torch dtype {value.dtype} is not supported"
            )
        t = value.detach().to("cpu").contiguous()
        if t.dtype == torch.bfloat16:
            # numpy has no bfloat16: reinterpret the bits as int16 (same width, same order).
            array = t.view(torch.int16).numpy()
        else:
            array = t.numpy()
        storage = _NUMPY_STORAGE[dtype_name]
        if dtype_name == "BF16":
            storage = np.dtype("<i2")
        data = np.ascontiguousarray(array, dtype=storage).tobytes(order="C")
        return StoredTensor(dtype_name, tuple(int(d) for d in t.shape), data)
    raise SafetensorsError(
        f"{path}: tensor '{name}': expected a torch.Tensor or numpy.ndarray, got {type(value).__name__}"
    )


def write_safetensors(
    path: str | os.PathLike,
    tensors: Mapping[str, Any],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write `tensors` (name -> torch.Tensor / numpy.ndarray / StoredTensor) to `path`.

    `metadata` becomes the `__metadata__` object; keys and values must be strings.
    The file appears atomically: it is written to a temporary file beside `path`
    and renamed over it.
    """
    path = os.fspath(path)
    header: dict[str, Any] = {}
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise SafetensorsError(
                    f"{path}: metadata entry {key!r}: keys and values must be str, "
                    f"got {type(key).__name__} -> {type(value).__name__}"
                )
        header["__metadata__"] = dict(metadata)

    encoded: list[tuple[str, StoredTensor]] = []
    for name in sorted(tensors):
        if not isinstance(name, str) or not name:
            raise SafetensorsError(f"{path}: tensor names must be non-empty str, got {name!r}")
        if name == "__metadata__":
            raise SafetensorsError(f"{path}: '__metadata__' is reserved and cannot name a tensor")
        encoded.append((name, _encode(name, tensors[name], path)))

    offset = 0
    for name, stored in encoded:
        expected = _NUMPY_STORAGE[stored.dtype].itemsize * int(np.prod(stored.shape, dtype=np.int64))
        if len(stored.data) != expected:
            raise SafetensorsError(
                f"{path}: tensor '{name}': {len(stored.data)} bytes for dtype {stored.dtype} "
                f"shape {list(stored.shape)}, expected {expected}"
            )
        header[name] = {
            "dtype": stored.dtype,
            "shape": list(stored.shape),
            "data_offsets": [offset, offset + len(stored.data)],
        }
        offset += len(stored.data)

    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # Pad with spaces so the data section starts 8-byte aligned (safetensors spec, "Format").
    header_bytes += b" " * (-len(header_bytes) % 8)

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(header_bytes)))
            f.write(header_bytes)
            for _, stored in encoded:
                f.write(stored.data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; give the file the permissions an ordinary open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except FileNotFoundError:
            pass
        raise


class SafetensorsFile:
    """A safetensors file read into memory and validated.

    `metadata` is the `__metadata__` dict; `tensors` maps name -> StoredTensor in file
    order.  `numpy(name)` and `torch(name)` give array views of a tensor.
    """

    def __init__(self, path: str, metadata: dict[str, str], tensors: dict[str, StoredTensor]):
        self.path = path
        self.metadata = metadata
        self.tensors = tensors

    def names(self) -> list[str]:
        return list(self.tensors)

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def __len__(self) -> int:
        return len(self.tensors)

    def _get(self, name: str) -> StoredTensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor named '{name}'") from None

    def raw(self, name: str) -> np.ndarray:
        """The stored values with their exact bits (BF16 as uint16 patterns)."""
        stored = self._get(name)
        return np.frombuffer(stored.data, dtype=_NUMPY_STORAGE[stored.dtype]).reshape(stored.shape)

    def numpy(self, name: str) -> np.ndarray:
        """The values as numpy; BF16 is widened to float32 (exact)."""
        stored = self._get(name)
        raw = self.raw(name)
        if stored.dtype == "BF16":
            return _bf16_bits_to_float32(raw)
        return raw

    def torch(self, name: str):
        """The values as a torch tensor of the stored dtype (bfloat16 included)."""
        import torch

        stored = self._get(name)
        raw = self.raw(name).copy()
        if stored.dtype == "BF16":
            return torch.from_numpy(raw.view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(raw)


def read_safetensors(path: str | os.PathLike) -> SafetensorsFile:
    """Read and validate a whole safetensors file."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise SafetensorsError(f"{path}: file is {len(blob)} bytes, too short for the 8-byte header length")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if header_len > MAX_HEADER_BYTES or 8 + header_len > len(blob):
        raise SafetensorsError(
            f"{path}: header length {header_len} does not fit in a file of {len(blob)} bytes"
        )
    try:
        header = json.loads(blob[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is a JSON {type(header).__name__}, expected an object")

    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise SafetensorsError(f"{path}: __metadata__ must be an object of str -> str")

    data = memoryview(blob)[8 + header_len :]
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(
                f"{path}: tensor '{name}': entry must have exactly dtype, shape, data_offsets"
            )
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _NUMPY_STORAGE:
            raise SafetensorsError(f"{path}: tensor '{name}': unsupported dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SafetensorsError(f"{path}: tensor '{name}': shape {shape!r} is not a list of sizes")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise SafetensorsError(f"{path}: tensor '{name}': bad data_offsets {offsets!r}")
        nbytes = _NUMPY_STORAGE[dtype].itemsize * int(np.prod(shape, dtype=np.int64))
        if offsets[1] - offsets[0] != nbytes:
            raise SafetensorsError(
                f"{path}: tensor '{name}': data_offsets {offsets} hold {offsets[1] - offsets[0]} bytes, "
                f"dtype {dtype} shape {shape} needs {nbytes}"
            )
        entries.append((offsets[0], offsets[1], name, dtype, tuple(shape)))

    # The tensors must tile the data section exactly.
    entries.sort()
    position = 0
    tensors: dict[str, StoredTensor] = {}
    for begin, end, name, dtype, shape in entries:
        if begin != position:
            raise SafetensorsError(
                f"{path}: tensor '{name}' starts at data offset {begin}, expected {position} "
                "(gap or overlap in the data section)"
            )
        tensors[name] = StoredTensor(dtype, shape, bytes(data[begin:end]))
        position = end
    if position != len(data):
        raise SafetensorsError(
            f"{path}: data section is {len(data)} bytes but the tensors cover {position} "
            "(truncated file or trailing bytes)"
        )
    return SafetensorsFile(path, metadata, tensors)


def _bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32, so widening is a 16-bit shift (exact)."""
    wide = bits.reshape(-1).view(np.uint16).astype(np.uint32) << 16
    return wide.view(np.float32).reshape(bits.shape)


def to_float_numpy(value: Any) -> np.ndarray:
    """A float numpy copy of a floating torch tensor: float64/float32/float16 kept,
    bfloat16 widened to float32 (exact).  Used by the online capture path so it sees
    exactly the values the dump path stores."""
    import torch

    t = value.detach().to("cpu")
    if t.dtype == torch.bfloat16:
        return _bf16_bits_to_float32(t.contiguous().view(torch.int16).numpy())
    if t.dtype not in (torch.float64, torch.float32, torch.float16):
        raise TypeError(f"expected a floating tensor, got {t.dtype}")
    return t.numpy().copy()
