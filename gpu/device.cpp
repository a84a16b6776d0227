// gpu/device.cpp: the device query and the list of GPU conversions with their availability (host code, CUDA runtime API).
#include <cuda_runtime_api.h>

#include <iterator>
#include <string>

#include "core/error.h"
#include "gpu/conversion_ids.h"
#include "gpu/cuda_check.h"
#include "gpu/fpscope_gpu.h"

namespace fpscope::gpu {

bool built_with_cuda() { return true; }

DeviceInfo device_info(int device) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    throw Error(std::string("no CUDA device: ") +
                (status != cudaSuccess ? cudaGetErrorString(status) : "cudaGetDeviceCount found none"));
  }
  if (device < 0 || device >= count) {
    throw Error("no CUDA device " + std::to_string(device) + " (there are " + std::to_string(count) + ")");
  }
  cudaDeviceProp prop{};
  FPSCOPE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  FPSCOPE_CUDA_CHECK(cudaSetDevice(device));
  DeviceInfo info;
  info.name = prop.name;
  info.compute_major = prop.major;
  info.compute_minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.memory_bytes = prop.totalGlobalMem;
  info.compiled_architectures = FPSCOPE_GPU_ARCHITECTURES;
  return info;
}

std::vector<GpuConversion> gpu_conversions(const DeviceInfo& device) {
  using namespace detail;
  struct Entry {
    ConversionId id;
    const char* name;
    const char* format_spec;
    Mode mode;
  };
  // NUMERICS.md s3: fp8 cvt saturates (satfinite) and rounds to nearest even;
  // the bf16/fp16 intrinsics overflow to inf; fp6/fp4 always saturate; e8m0
  // rounds toward zero or +inf.
  constexpr Entry kEntries[] = {
      {kE4m3SatfiniteRn, "cvt.rn.satfinite.e4m3x2.f32", "e4m3:sat=finite", Mode::rne},
      {kE5m2SatfiniteRn, "cvt.rn.satfinite.e5m2x2.f32", "e5m2:sat=finite", Mode::rne},
      {kBf16Rn, "__float2bfloat16_rn", "bf16", Mode::rne},
      {kBf16Rz, "__float2bfloat16_rz", "bf16", Mode::rtz},
      {kBf16Rd, "__float2bfloat16_rd", "bf16", Mode::rdn},
      {kBf16Ru, "__float2bfloat16_ru", "bf16", Mode::rup},
      {kF16Rn, "__float2half_rn", "fp16", Mode::rne},
      {kF16Rz, "__float2half_rz", "fp16", Mode::rtz},
      {kF16Rd, "__float2half_rd", "fp16", Mode::rdn},
      {kF16Ru, "__float2half_ru", "fp16", Mode::rup},
      {kE2m3SatfiniteRn, "cvt.rn.satfinite.e2m3x2.f32", "e2m3", Mode::rne},
      {kE3m2SatfiniteRn, "cvt.rn.satfinite.e3m2x2.f32", "e3m2", Mode::rne},
      {kE2m1SatfiniteRn, "cvt.rn.satfinite.e2m1x2.f32", "e2m1", Mode::rne},
      {kUe8m0SatfiniteRz, "cvt.rz.satfinite.ue8m0x2.f32", "e8m0:sat=finite", Mode::rtz},
      {kUe8m0SatfiniteRp, "cvt.rp.satfinite.ue8m0x2.f32", "e8m0:sat=finite", Mode::rup},
  };
  static_assert(std::size(kEntries) == kConversionCount, "one entry per ConversionId");
  const int cc = device.compute_major * 10 + device.compute_minor;
  const bool built_100a = std::string(FPSCOPE_GPU_ARCHITECTURES).find("100a") != std::string::npos;
  std::vector<GpuConversion> out;
  for (const Entry& e : kEntries) {
    GpuConversion c;
    c.name = e.name;
    c.format_spec = e.format_spec;
    c.format = parse_format(e.format_spec);
    c.rounding = Rounding{e.mode};
    c.kernel_id = e.id;
    const std::string device_sm = "sm_" + std::to_string(cc);
    if (needs_sm100a(e.id) && device.compute_major != 10) {
      c.unavailable = "needs an sm_100a-family GPU; " + device_sm + " has no hardware fp6/fp4/e8m0 cvt (NUMERICS.md s3)";
    } else if (needs_sm100a(e.id) && !built_100a) {
      c.unavailable = "this build has no sm_100a code (nvcc lacked it at configure time)";
    } else if ((e.id == kE4m3SatfiniteRn || e.id == kE5m2SatfiniteRn) && cc < 89) {
      c.unavailable = "needs sm_89 or newer; this GPU is " + device_sm;
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace fpscope::gpu
