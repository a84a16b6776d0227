// analysis/tensor.cpp: the DType and Role helpers of analysis/tensor.h.
#include "analysis/tensor.h"

namespace fpscope {

bool is_float(DType t) {
  switch (t) {
    case DType::f64:
    case DType::f32:
    case DType::f16:
    case DType::bf16:
    case DType::f8_e4m3:
    case DType::f8_e5m2:
      return true;
    default:
      return false;
  }
}

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::f64:
    case DType::i64:
    case DType::u64:
      return 8;
    case DType::f32:
    case DType::i32:
    case DType::u32:
      return 4;
    case DType::f16:
    case DType::bf16:
    case DType::i16:
    case DType::u16:
      return 2;
    case DType::f8_e4m3:
    case DType::f8_e5m2:
    case DType::i8:
    case DType::u8:
    case DType::boolean:
      return 1;
  }
  return 0;
}

// safetensors spelling (safetensors/src/tensor.rs, enum Dtype).
const char* dtype_name(DType t) {
  switch (t) {
    case DType::f64: return "F64";
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::f8_e4m3: return "F8_E4M3";
    case DType::f8_e5m2: return "F8_E5M2";
    case DType::i64: return "I64";
    case DType::i32: return "I32";
    case DType::i16: return "I16";
    case DType::i8: return "I8";
    case DType::u64: return "U64";
    case DType::u32: return "U32";
    case DType::u16: return "U16";
    case DType::u8: return "U8";
    case DType::boolean: return "BOOL";
  }
  return "?";
}

const char* role_name(Role r) {
  switch (r) {
    case Role::unknown: return "unknown";
    case Role::weight: return "weight";
    case Role::activation: return "activation";
    case Role::grad_weight: return "grad_weight";
    case Role::grad_activation: return "grad_activation";
    case Role::optimizer_state: return "optimizer_state";
  }
  return "?";
}

std::uint64_t TensorInfo::element_count() const {
  std::uint64_t n = 1;
  for (const std::int64_t d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

}  // namespace fpscope
