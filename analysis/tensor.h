// analysis/tensor.h: what the readers hand to the analysis: a tensor's metadata and a chunked reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace fpscope {

// Element types the readers know (safetensors dtype names; NumPy descrs map onto them).
enum class DType : std::uint8_t {
  f64, f32, f16, bf16, f8_e4m3, f8_e5m2,
  i64, i32, i16, i8, u64, u32, u16, u8, boolean,
};

// Floating types can be analysed; integer and bool tensors are counted but not analysed.
bool is_float(DType t);
std::size_t dtype_size(DType t);
const char* dtype_name(DType t);  // safetensors spelling: "F32", "BF16", ...

// Roles a tensor plays in training (the capture tool's metadata, or inferred from its name).
enum class Role : std::uint8_t {
  unknown, weight, activation, grad_weight, grad_activation, optimizer_state,
};
const char* role_name(Role r);

struct TensorInfo {
  std::string file;                 // path the tensor came from
  std::string name;                 // tensor name inside the file ("" for a .npy file)
  std::vector<std::int64_t> shape;
  DType dtype = DType::f32;
  std::string layer;                // module name, e.g. "blocks.0.mlp.fc1"; "" when unknown
  Role role = Role::unknown;
  bool role_inferred = false;       // true when guessed from the name rather than read from metadata
  std::int64_t step = -1;           // training step, -1 when unknown
  std::string module_type;          // "Linear", "LayerNorm", ...; "" when unknown
  std::string io;                   // "input"/"output" for activations and their gradients
  std::string state;                // "exp_avg"/"exp_avg_sq" for optimizer state
  std::string orig_dtype;           // dtype the model computed in, from capture metadata
  std::string sampling_json;        // the capture's subsampling record, verbatim JSON; "" if none

  std::uint64_t element_count() const;
};

// Reads a tensor's elements in chunks, converted exactly to double (every
// supported float dtype widens exactly). Implementations stream or map the
// file, so a tensor larger than memory is read with bounded memory.
class TensorReader {
 public:
  virtual ~TensorReader() = default;
  virtual const TensorInfo& info() const = 0;
  // Copies elements [first, first + out.size()) into out. Throws fpscope::Error
  // naming file and tensor if the data cannot be read.
  virtual void read(std::uint64_t first, std::span<double> out) = 0;
  // The same as float; only for dtypes that fit float exactly (all but F64).
  virtual void read(std::uint64_t first, std::span<float> out) = 0;
};

}  // namespace fpscope
