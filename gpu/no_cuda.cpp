// gpu/no_cuda.cpp: the gpu/ entry points of a build without nvcc: each says so with an fpscope::Error.
#include "core/error.h"
#include "gpu/fpscope_gpu.h"

namespace fpscope::gpu {
namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw Error(std::string(what) + ": this fpscope was built without CUDA (nvcc was not found at configure time)");
}
}  // namespace

bool built_with_cuda() { return false; }
DeviceInfo device_info(int) { no_cuda("device query"); }
std::vector<GpuConversion> gpu_conversions(const DeviceInfo&) { no_cuda("validate --target gpu"); }
ValidationResult validate_conversion(const GpuConversion&, SweepRange, int) { no_cuda("validate --target gpu"); }
ChunkEvaluator make_chunk_evaluator(int) { no_cuda("analyze --device gpu"); }
std::vector<AnalysisBenchmark> benchmark_analysis(const AnalysisBenchmarkOptions&) { no_cuda("analysis benchmark"); }
std::vector<ProbeResult> probe_tensor_cores(const ProbeOptions&) { no_cuda("probe-tensor-cores"); }
double copy_bandwidth_bytes_per_second(std::uint64_t, int) { no_cuda("copy bandwidth"); }
std::vector<GemmBenchmark> benchmark_gemms(const GemmOptions&) { no_cuda("GEMM benchmark"); }
std::vector<ExternalGemmProduct> replay_gemm_on_device(const QuantizedGemm&, int) { no_cuda("gemm --device gpu"); }

}  // namespace fpscope::gpu
