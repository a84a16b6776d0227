#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus: small valid and invalid inputs, one file each.

    /usr/bin/python3 tests/fuzz/make_corpus.py      # rewrites tests/fuzz/corpus/<target>/

Deterministic (no randomness, no numpy): the same script gives the same bytes, so
the committed corpus only changes when this file does.
"""

import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
         "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}


def safetensors(header, data=b"", length=None):
    """A file from a header (dict, or JSON text as given) and a data section."""
    text = header if isinstance(header, (str, bytes)) else json.dumps(header, separators=(",", ":"))
    raw = text.encode("utf-8") if isinstance(text, str) else text
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def tiled(tensors, metadata=None):
    """A valid file holding tensors [(name, dtype, shape)], each filled with a byte pattern."""
    header, data = {}, b""
    for i, (name, dtype, shape) in enumerate(tensors):
        count = 1
        for d in shape:
            count *= d
        nbytes = count * SIZES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + nbytes]}
        data += bytes((i * 37 + k * 11) & 0xFF for k in range(nbytes))
    if metadata is not None:
        header["__metadata__"] = metadata
    return header, data


def safetensors_inputs():
    out = {}
    header, data = tiled([(f"t.{d.lower()}", d, [2, 3]) for d in SIZES])
    out["every_dtype"] = safetensors(header, data)
    header, data = tiled([("blocks.0.fc1.weight", "F32", [4, 4]), ("blocks.0.fc1:input", "BF16", [2, 4])],
                         {"fpscope.format": "1",
                          "fpscope.tensor.blocks.0.fc1.weight": json.dumps(
                              {"layer": "blocks.0.fc1", "module_type": "Linear", "orig_dtype": "float32",
                               "role": "weight", "step": 3}, separators=(",", ":"), sort_keys=True),
                          "fpscope.tensor.blocks.0.fc1:input": json.dumps(
                              {"io": "input", "layer": "blocks.0.fc1", "role": "activation", "step": 3,
                               "sampling": {"kept": 2, "method": "uniform_rows", "seed": 0, "total": 8}},
                              separators=(",", ":"), sort_keys=True)})
    out["capture_metadata"] = safetensors(header, data)
    header, data = tiled([("empty", "F16", [0, 5]), ("scalar", "F64", [])])
    out["empty_and_scalar"] = safetensors(header, data)
    header, data = tiled([("big", "F8_E4M3", [70, 70])])
    out["several_chunks"] = safetensors(header, data)
    out["empty_header"] = safetensors({})
    out["too_short"] = b"\x10\x00\x00"
    out["length_beyond_file"] = safetensors('{"a":1}', length=4096)
    out["length_absurd"] = safetensors("{}", length=1 << 62)
    out["bad_json"] = safetensors('{"a": {"dtype": "F32", "shape": [1], ')
    out["not_object"] = safetensors("[1,2,3]")
    out["entry_not_object"] = safetensors('{"a":"F32"}')
    out["unknown_dtype"] = safetensors({"a": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}}, b"\0")
    out["negative_shape"] = safetensors({"a": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 8]}}, b"\0" * 8)
    out["overflowing_shape"] = safetensors(
        {"a": {"dtype": "F64", "shape": [1 << 40, 1 << 40], "data_offsets": [0, 8]}}, b"\0" * 8)
    out["offsets_outside"] = safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8)
    out["offsets_mismatch"] = safetensors({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8)
    out["overlap"] = safetensors({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12)
    out["duplicate_names"] = safetensors(
        '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
        b"\1\2")
    out["metadata_not_strings"] = safetensors(
        {"__metadata__": {"k": 1, "fpscope.tensor.a": "{\"role\":\"nope\"}"},
         "a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}, b"\0\x3c")
    out["deep_nesting"] = safetensors('{"a":' + "[" * 3000 + "]" * 3000 + "}")
    header, data = tiled([("x", "F32", [8])])
    out["truncated_data"] = safetensors(header, data)[:-5]
    out["invalid_utf8"] = safetensors(b'{"\xff\xfe":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}')
    return out


def npy(descr, shape, data=b"", fortran=False, version=(1, 0), header_text=None):
    text = header_text
    if text is None:
        # Python tuple syntax: (), (3,), (2, 3).
        dims = f"{shape[0]}," if len(shape) == 1 else ", ".join(str(d) for d in shape)
        text = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': ({dims}), }}"
    length_bytes = 2 if version[0] == 1 else 4
    prefix = 6 + 2 + length_bytes
    raw = text.encode("latin-1")
    raw += b" " * (-(prefix + len(raw) + 1) % 64) + b"\n"
    length = struct.pack("<H", len(raw)) if length_bytes == 2 else struct.pack("<I", len(raw))
    return b"\x93NUMPY" + bytes(version) + length + raw + data


def npy_inputs():
    out = {}
    out["f4_2x3"] = npy("<f4", (2, 3), struct.pack("<6f", 1, 2, 3, 4, 5, 6))
    out["f8_vector"] = npy("<f8", (3,), struct.pack("<3d", 0.5, -1, 1e300))
    out["f2_scalar"] = npy("<f2", (), b"\x00\x3c")
    out["u1_empty"] = npy("|u1", (0, 4))
    out["bool"] = npy("|b1", (2,), b"\x00\x01")
    out["i8_v2"] = npy("<i8", (1,), b"\x01" + b"\0" * 7, version=(2, 0))
    out["f4_v3"] = npy("<f4", (1,), b"\0\0\x80\x3f", version=(3, 0))
    out["fortran"] = npy("<f4", (2, 2), b"\0" * 16, fortran=True)
    out["big_endian"] = npy(">f4", (1,), b"\x3f\x80\0\0")
    out["complex"] = npy("<c8", (1,), b"\0" * 8)
    out["structured"] = npy("", (1,), b"\0" * 8, header_text="{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }")
    out["bad_magic"] = b"\x93NUMPX\x01\x00\x10\x00{}" + b" " * 5 + b"\n"
    out["bad_version"] = npy("<f4", (1,), b"\0" * 4, version=(9, 9))
    out["truncated"] = npy("<f4", (4,), b"\0" * 6)
    out["trailing"] = npy("<f4", (1,), b"\0" * 8)
    out["negative_shape"] = npy("<f4", (-1,), b"")
    out["huge_shape"] = npy("<f8", (1 << 40, 1 << 40), b"")
    out["missing_key"] = npy("", (), header_text="{'descr': '<f4', 'shape': (1,), }")
    out["garbage_dict"] = npy("", (), header_text="{'descr': '<f4', 'fortran_order': Nope, 'shape': (1,2,,), }")
    out["header_too_long"] = b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 30) + b"{"
    out["short"] = b"\x93NUM"
    return out


def write(target, inputs):
    folder = os.path.join(CORPUS, target)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for name, data in sorted(inputs.items()):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


def main():
    files = safetensors_inputs()
    write("fuzz_safetensors", files)
    # The header target takes the JSON alone.
    headers = {}
    for name, data in files.items():
        if len(data) >= 8:
            length = struct.unpack("<Q", data[:8])[0]
            if length <= len(data) - 8:
                headers[name] = data[8:8 + length]
    write("fuzz_safetensors_header", headers)
    write("fuzz_npy", npy_inputs())


if __name__ == "__main__":
    main()
