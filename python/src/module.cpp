// python/src/module.cpp: the extension module fpscope._core: quantize/encode/decode, formats and the analyzer.
//
// Every function here calls the same C++ the `fpscope` command calls
// (core/array.h, core/scaling.h, analysis/engine.h, analysis/result_json.h), so
// results are identical to the CLI's. User errors (fpscope::Error) become
// ValueError with the C++ message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "analysis/dataset.h"
#include "analysis/engine.h"
#include "analysis/format_table.h"
#include "analysis/metadata.h"
#include "analysis/result_json.h"
#include "analysis/training_checks.h"
#include "analysis/verdict.h"
#include "core/array.h"
#include "core/error.h"
#include "core/format.h"
#include "core/rounding_spec.h"
#include "core/scaling.h"

namespace py = pybind11;

namespace fpscope::python {
namespace {

// A C-contiguous view of a NumPy array; a non-contiguous array is copied (documented in __init__.py).
py::array contiguous(const py::array& a) {
  return py::array::ensure(a, py::array::c_style);
}

enum class Kind { f16, f32, f64, other };

Kind kind_of(const py::array& a) {
  const py::dtype d = a.dtype();
  if (d.kind() != 'f') return Kind::other;
  switch (d.itemsize()) {
    case 2: return Kind::f16;
    case 4: return Kind::f32;
    case 8: return Kind::f64;
    default: return Kind::other;
  }
}

std::string dtype_text(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

std::vector<std::int64_t> shape_of(const py::array& a) {
  std::vector<std::int64_t> shape;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) shape.push_back(a.shape(i));
  return shape;
}

ArrayOptions array_options(const std::string& rounding, std::uint64_t seed, int threads) {
  ArrayOptions o;
  o.rounding = parse_rounding(rounding);
  o.seed = seed;
  o.threads = threads;
  return o;
}

template <class T>
std::span<const T> const_span(const py::array& a) {
  return {static_cast<const T*>(a.data()), static_cast<std::size_t>(a.size())};
}

template <class T>
std::span<T> mutable_span(py::array& a) {
  return {static_cast<T*>(a.mutable_data()), static_cast<std::size_t>(a.size())};
}

// rows x cols as the recipes see a tensor: leading dimensions x last dimension.
void rows_cols(const py::array& a, std::uint64_t& rows, std::uint64_t& cols) {
  cols = a.ndim() == 0 ? 1 : static_cast<std::uint64_t>(a.shape(a.ndim() - 1));
  rows = cols == 0 ? 0 : static_cast<std::uint64_t>(a.size()) / cols;
}

py::array quantize(const py::array& input, const std::string& format, const std::string& rounding,
                   const std::string& recipe, std::uint64_t seed, int threads) {
  const Format f = parse_format(format);
  const Recipe r = parse_recipe(recipe);
  const py::array in = contiguous(input);
  const Kind kind = kind_of(in);
  if (kind != Kind::f32 && kind != Kind::f64) {
    throw Error("quantize: array dtype " + dtype_text(in) + " is not float32 or float64");
  }
  py::array out(in.dtype(), std::vector<py::ssize_t>(in.shape(), in.shape() + in.ndim()));
  const ArrayOptions options = array_options(rounding, seed, threads);
  if (r.kind == RecipeKind::none) {
    py::gil_scoped_release release;
    if (kind == Kind::f32) {
      quantize_array(const_span<float>(in), mutable_span<float>(out), f, options);
    } else {
      quantize_array(const_span<double>(in), mutable_span<double>(out), f, options);
    }
    return out;
  }
  if (!recipe_applies(r, f)) {
    throw Error("quantize: recipe '" + recipe + "' does not apply to format '" + format + "'");
  }
  if (r.kind == RecipeKind::delayed) {
    throw Error("quantize: recipe 'delayed' needs an amax history across steps; use fpscope.analyze or Accumulator");
  }
  // Scaled recipes: the values each element represents (decode * scale_inv), as the analysis sees them.
  std::uint64_t rows = 0;
  std::uint64_t cols = 0;
  rows_cols(in, rows, cols);
  std::vector<double> source(static_cast<std::size_t>(in.size()));
  std::vector<double> result(source.size());
  if (kind == Kind::f32) {
    const auto s = const_span<float>(in);
    std::copy(s.begin(), s.end(), source.begin());
  } else {
    const auto s = const_span<double>(in);
    std::copy(s.begin(), s.end(), source.begin());
  }
  {
    py::gil_scoped_release release;
    quantize_with_recipe(source, result, rows, cols, scaled_element_format(f, r), r, options.rounding, seed);
  }
  if (kind == Kind::f32) {
    // decode * scale_inv can need more than 24 bits; float32 output rounds it (RNE).
    auto o = mutable_span<float>(out);
    for (std::size_t i = 0; i < result.size(); ++i) o[i] = static_cast<float>(result[i]);
  } else {
    auto o = mutable_span<double>(out);
    std::copy(result.begin(), result.end(), o.begin());
  }
  return out;
}

template <class Bits>
py::array encode_into(const py::array& in, Kind kind, const Format& f, const ArrayOptions& options) {
  py::array_t<Bits> out(std::vector<py::ssize_t>(in.shape(), in.shape() + in.ndim()));
  py::array& base = out;
  py::gil_scoped_release release;
  if (kind == Kind::f32) {
    encode_array<Bits>(const_span<float>(in), mutable_span<Bits>(base), f, options);
  } else {
    encode_array<Bits>(const_span<double>(in), mutable_span<Bits>(base), f, options);
  }
  return out;
}

py::array encode(const py::array& input, const std::string& format, const std::string& rounding,
                 std::uint64_t seed, int threads) {
  const Format f = parse_format(format);
  const py::array in = contiguous(input);
  const Kind kind = kind_of(in);
  if (kind != Kind::f32 && kind != Kind::f64) {
    throw Error("encode: array dtype " + dtype_text(in) + " is not float32 or float64");
  }
  const ArrayOptions options = array_options(rounding, seed, threads);
  const int bits = limits(f).total_bits;
  if (bits <= 8) return encode_into<std::uint8_t>(in, kind, f, options);
  if (bits <= 16) return encode_into<std::uint16_t>(in, kind, f, options);
  if (bits <= 32) return encode_into<std::uint32_t>(in, kind, f, options);
  return encode_into<std::uint64_t>(in, kind, f, options);
}

template <class Bits>
py::array decode_from(const py::array& in, const Format& f, bool as_double) {
  std::vector<py::ssize_t> shape(in.shape(), in.shape() + in.ndim());
  if (as_double) {
    py::array_t<double> out(shape);
    py::array& base = out;
    decode_array<Bits>(const_span<Bits>(in), mutable_span<double>(base), f);
    return out;
  }
  py::array_t<float> out(shape);
  py::array& base = out;
  decode_array<Bits>(const_span<Bits>(in), mutable_span<float>(base), f);
  return out;
}

py::array decode(const py::array& input, const std::string& format, const std::string& dtype) {
  const Format f = parse_format(format);
  if (dtype != "float32" && dtype != "float64") {
    throw Error("decode: dtype '" + dtype + "' is not float32 or float64");
  }
  const bool as_double = dtype == "float64";
  if (!as_double && limits(f).total_bits > 32 && f.man_bits > 23) {
    throw Error("decode: format '" + format + "' does not fit float32; pass dtype='float64'");
  }
  const py::array in = contiguous(input);
  const py::dtype d = in.dtype();
  const int bits = limits(f).total_bits;
  const int need = bits <= 8 ? 1 : bits <= 16 ? 2 : bits <= 32 ? 4 : 8;
  if (d.kind() != 'u' || d.itemsize() != need) {
    throw Error("decode: bits array dtype " + dtype_text(in) + " does not match format '" + format +
                "' (expected uint" + std::to_string(8 * need) + ")");
  }
  switch (need) {
    case 1: return decode_from<std::uint8_t>(in, f, as_double);
    case 2: return decode_from<std::uint16_t>(in, f, as_double);
    case 4: return decode_from<std::uint32_t>(in, f, as_double);
    default: return decode_from<std::uint64_t>(in, f, as_double);
  }
}

// A tensor held in a NumPy array (float16/32/64, C-contiguous), read by the engine in place.
class ArrayReader final : public TensorReader {
 public:
  ArrayReader(TensorInfo info, py::array array, Kind kind)
      : info_(std::move(info)), array_(std::move(array)), kind_(kind) {}
  const TensorInfo& info() const override { return info_; }
  void read(std::uint64_t first, std::span<double> out) override { copy(first, out); }
  void read(std::uint64_t first, std::span<float> out) override {
    if (kind_ == Kind::f64) throw Error("tensor '" + info_.name + "': float64 does not fit float exactly");
    copy(first, out);
  }

 private:
  template <class T>
  void copy(std::uint64_t first, std::span<T> out) {
    const auto n = static_cast<std::size_t>(first);
    switch (kind_) {
      case Kind::f16: {
        static const Format half = parse_format("fp16");
        const auto* bits = static_cast<const std::uint16_t*>(array_.data()) + n;
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(fpscope::decode(bits[i], half));
        break;
      }
      case Kind::f32: {
        const auto* v = static_cast<const float*>(array_.data()) + n;
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(v[i]);
        break;
      }
      default: {
        const auto* v = static_cast<const double*>(array_.data()) + n;
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(v[i]);
        break;
      }
    }
  }

  TensorInfo info_;
  py::array array_;
  Kind kind_;
};

// Every tensor of one file as the C++ readers see it: (name, info, float64 values or None).
// Integer, bool and unreadable tensors come with None and, for errors, the message.
py::list read_file(const std::string& path) {
  py::list out;
  for (DatasetEntry& entry : open_file(path)) {
    if (!entry.ok()) {
      out.append(py::make_tuple(entry.error->tensor, py::dict(py::arg("error") = entry.error->message), py::none()));
      continue;
    }
    const TensorInfo& info = entry.reader->info();
    py::dict d(py::arg("dtype") = dtype_name(info.dtype), py::arg("shape") = info.shape,
               py::arg("layer") = info.layer, py::arg("role") = role_name(info.role),
               py::arg("role_inferred") = info.role_inferred, py::arg("step") = info.step,
               py::arg("module_type") = info.module_type, py::arg("io") = info.io, py::arg("state") = info.state,
               py::arg("orig_dtype") = info.orig_dtype, py::arg("sampling") = info.sampling_json);
    if (!is_float(info.dtype)) {
      out.append(py::make_tuple(info.name, d, py::none()));
      continue;
    }
    std::vector<py::ssize_t> shape(info.shape.begin(), info.shape.end());
    py::array_t<double> values(shape);
    py::array& base = values;
    if (values.size() > 0) entry.reader->read(0, mutable_span<double>(base));
    out.append(py::make_tuple(info.name, d, values));
  }
  return out;
}

py::object json_to_python(const nlohmann::json& doc) {
  return py::module_::import("json").attr("loads")(doc.dump());
}

// Streams tensors through the analysis engine and keeps only their statistics:
// what `fpscope analyze` computes, tensor by tensor, without writing a dump.
class Accumulator {
 public:
  Accumulator(const std::vector<std::string>& formats, const std::vector<std::string>& recipes,
              const std::vector<std::string>& roundings, std::uint64_t seed, int threads)
      : combos_(make_combinations(formats, recipes, roundings)),
        engine_(EngineOptions{combos_, threads, std::uint64_t{1} << 20, seed, {}}) {
    if (combos_.empty()) throw Error("Accumulator: the recipes apply to none of the formats");
    run_.formats = formats;
    run_.recipes = recipes;
    run_.roundings = roundings;
    run_.seed = seed;
    run_.inputs = {"<online>"};
  }

  // Analyses one tensor now; `meta` is the capture's per-tensor metadata
  // (layer, role, step, ...; analysis/metadata.h) or None to infer from the name.
  void add(const std::string& name, const py::array& input, const py::object& meta) {
    const py::array array = contiguous(input);
    TensorInfo info;
    info.file = "<online>";
    info.name = name;
    info.shape = shape_of(array);
    const Kind kind = kind_of(array);
    if (kind == Kind::other) {
      throw Error("tensor '" + name + "': dtype " + dtype_text(array) + " is not a float type (float16/32/64)");
    }
    info.dtype = kind == Kind::f16 ? DType::f16 : kind == Kind::f32 ? DType::f32 : DType::f64;
    if (meta.is_none()) {
      infer_from_name(info);
    } else {
      const std::string json = py::module_::import("json").attr("dumps")(meta).cast<std::string>();
      apply_tensor_metadata(info, json);
    }
    if (info.element_count() == 0) {
      analysis_.empty.push_back(info);
      return;
    }
    ArrayReader reader(std::move(info), array, kind);
    TensorAnalysis result;
    {
      py::gil_scoped_release release;
      result = engine_.analyze(reader);
    }
    analysis_.tensors.push_back(std::move(result));
  }

  // Appends another accumulator's tensors (same formats, recipes and roundings).
  void merge(const Accumulator& other) {
    if (other.run_.formats != run_.formats || other.run_.recipes != run_.recipes ||
        other.run_.roundings != run_.roundings) {
      throw Error("Accumulator.merge: the other accumulator was made with different formats, recipes or roundings");
    }
    analysis_.tensors.insert(analysis_.tensors.end(), other.analysis_.tensors.begin(), other.analysis_.tensors.end());
    analysis_.empty.insert(analysis_.empty.end(), other.analysis_.empty.begin(), other.analysis_.empty.end());
  }

  std::size_t size() const { return analysis_.tensors.size(); }

  // The result document (reports/schema/result.schema.json). Update swamping
  // needs the weights of two steps, which a stream does not keep: it is empty here.
  nlohmann::json document() const {
    const Thresholds thresholds = default_thresholds();
    const VerdictReport verdicts = judge_all(analysis_, combos_, thresholds);
    TrainingReport training;
    training.loss_scaling = loss_scale_checks(analysis_, combos_);
    training.storage = storage_costs(analysis_, combos_);
    return result_to_json(run_, analysis_, combos_, thresholds, verdicts, &training);
  }

 private:
  std::vector<Combination> combos_;
  Engine engine_;
  DatasetAnalysis analysis_;
  RunInfo run_;
};

}  // namespace
}  // namespace fpscope::python

PYBIND11_MODULE(_core, m) {
  using namespace fpscope::python;
  m.doc() = "fpscope's compiled core: the same functions as the fpscope command";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fpscope::Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  m.def("quantize", &quantize, py::arg("array"), py::arg("format"), py::arg("rounding") = "rne",
        py::arg("recipe") = "none", py::arg("seed") = 0, py::arg("threads") = 1,
        "Round an array to a format (and recipe) and back; same dtype out");
  m.def("encode", &encode, py::arg("array"), py::arg("format"), py::arg("rounding") = "rne",
        py::arg("seed") = 0, py::arg("threads") = 1, "Encodings of an array in a format (narrowest uint)");
  m.def("decode", &decode, py::arg("bits"), py::arg("format"), py::arg("dtype") = "float32",
        "Values of encodings of a format");
  m.def("read_file", &read_file, py::arg("path"),
        "Every tensor of a .safetensors/.npy file as the C++ reader reads it: [(name, info, float64 array)]");
  m.def("formats_json", [] { return fpscope::format_table_json().dump(); },
        "The preset table as JSON text (same as `fpscope formats --json`)");
  py::class_<Accumulator>(m, "Accumulator")
      .def(py::init<const std::vector<std::string>&, const std::vector<std::string>&,
                    const std::vector<std::string>&, std::uint64_t, int>(),
           py::arg("formats"), py::arg("recipes"), py::arg("roundings"), py::arg("seed") = 0,
           py::arg("threads") = 1)
      .def("add", &Accumulator::add, py::arg("name"), py::arg("array"), py::arg("meta") = py::none())
      .def("merge", &Accumulator::merge, py::arg("other"))
      .def("__len__", &Accumulator::size)
      .def("result_json", [](const Accumulator& a) { return a.document().dump(1) + "\n"; })
      .def("result", [](const Accumulator& a) { return json_to_python(a.document()); });
}
