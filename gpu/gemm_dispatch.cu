// gpu/gemm_dispatch.cu: host side of the cuBLASLt GEMMs (FP8 with per-tensor scales, fast accumulation on/off; BF16) and the copy-bandwidth baseline.
//
// NUMERICS.md s5: FP8 on Hopper is TN only (A transposed), compute 32F, scale
// type 32F, 16-byte aligned pointers and leading dimensions; D here is bf16.
// Layout: A is stored K x M column-major (lda = K), B K x N (ldb = K), so row i
// of op(A) and column j of B are K contiguous elements; D is M x N (ldd = M).
#include <cublasLt.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/round.h"
#include "gpu/cuda_check.h"
#include "gpu/fpscope_gpu.h"
#include "gpu/gemm_fill_kernel.cuh"

// cublasGetStatusString lives in libcublas, which this code does not otherwise
// need, so the status is reported as its number (cublas_api.h lists them).
#define FPSCOPE_CUBLAS_CHECK(call)                                                                           \
  do {                                                                                                       \
    const cublasStatus_t fpscope_cublas_status_ = (call);                                                    \
    if (fpscope_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                                   \
      throw ::fpscope::Error(std::string("cuBLASLt error: ") + #call + " at " + __FILE__ + ":" +             \
                             std::to_string(__LINE__) + ": cublasStatus_t " +                    \
                             std::to_string(static_cast<int>(fpscope_cublas_status_)));                  \
    }                                                                                                        \
  } while (0)

namespace fpscope::gpu {
namespace {

struct GemmCase {
  const char* name;
  cudaDataType_t ab_type;
  const char* format_spec;  // the operands' format (both)
  int element_bytes;
  bool fp8;
  bool fast_accum;
};

constexpr GemmCase kCases[] = {
    {"cublasLt fp8 e4m3 x e4m3 -> bf16, promoted accumulation", CUDA_R_8F_E4M3, "e4m3", 1, true, false},
    {"cublasLt fp8 e4m3 x e4m3 -> bf16, FAST_ACCUM", CUDA_R_8F_E4M3, "e4m3", 1, true, true},
    {"cublasLt bf16 x bf16 -> bf16", CUDA_R_16BF, "bf16", 2, false, false},
};

// RAII holders for the cuBLASLt descriptors.
struct Handles {
  cublasLtHandle_t lt = nullptr;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  ~Handles() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (op) cublasLtMatmulDescDestroy(op);
    if (lt) cublasLtDestroy(lt);
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
};

void fill_random(unsigned char* out, std::uint64_t count, int bytes, const Format& f, std::uint64_t seed) {
  detail::fill_random_kernel<<<1024, 256>>>(out, count, bytes, f, seed);
  FPSCOPE_CUDA_CHECK(cudaGetLastError());
}

double decode_element(const std::vector<unsigned char>& v, std::size_t i, int bytes, const Format& f) {
  std::uint64_t bits = v[i * static_cast<std::size_t>(bytes)];
  if (bytes == 2) bits |= std::uint64_t{v[i * 2 + 1]} << 8;
  return decode(bits, f);
}

GemmBenchmark run_case(const GemmCase& g, const GemmOptions& o) {
  GemmBenchmark result;
  result.name = g.name;
  const Format f = parse_format(g.format_spec);
  const auto m = static_cast<std::uint64_t>(o.m), n = static_cast<std::uint64_t>(o.n), k = static_cast<std::uint64_t>(o.k);
  if (o.m % 16 != 0 || o.n % 16 != 0 || o.k % 16 != 0) throw Error("gemm: m, n and k must be multiples of 16 (cuBLASLt FP8 alignment)");
  detail::DeviceBuffer<unsigned char> a(m * k * static_cast<std::uint64_t>(g.element_bytes));
  detail::DeviceBuffer<unsigned char> b(n * k * static_cast<std::uint64_t>(g.element_bytes));
  detail::DeviceBuffer<std::uint16_t> d(m * n);
  detail::DeviceBuffer<float> scales(2);
  constexpr std::size_t kWorkspaceBytes = std::size_t{64} << 20;
  detail::DeviceBuffer<unsigned char> workspace(kWorkspaceBytes);
  fill_random(a.get(), m * k, g.element_bytes, f, 11);
  fill_random(b.get(), n * k, g.element_bytes, f, 12);
  const float host_scales[2] = {1.0f, 1.0f};  // per-tensor dequantisation scales of A and B
  FPSCOPE_CUDA_CHECK(cudaMemcpy(scales.get(), host_scales, sizeof(host_scales), cudaMemcpyHostToDevice));

  Handles h;
  FPSCOPE_CUBLAS_CHECK(cublasLtCreate(&h.lt));
  FPSCOPE_CUBLAS_CHECK(cublasLtMatmulDescCreate(&h.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  FPSCOPE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(h.op, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa)));
  FPSCOPE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(h.op, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb)));
  if (g.fp8) {
    const float* a_scale = scales.get();
    const float* b_scale = scales.get() + 1;
    FPSCOPE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(h.op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a_scale, sizeof(a_scale)));
    FPSCOPE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(h.op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b_scale, sizeof(b_scale)));
    const std::int8_t fast = g.fast_accum ? 1 : 0;
    FPSCOPE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(h.op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof(fast)));
  }
  FPSCOPE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&h.a, g.ab_type, k, m, static_cast<std::int64_t>(k)));
  FPSCOPE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&h.b, g.ab_type, k, n, static_cast<std::int64_t>(k)));
  FPSCOPE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&h.d, CUDA_R_16BF, m, n, static_cast<std::int64_t>(m)));
  FPSCOPE_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&h.pref));
  FPSCOPE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(h.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                           &kWorkspaceBytes, sizeof(kWorkspaceBytes)));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  FPSCOPE_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(h.lt, h.op, h.a, h.b, h.d, h.d, h.pref, 1, &heuristic, &found));
  if (found == 0) {
    result.unavailable = "cuBLASLt has no algorithm for this GEMM on this device";
    return result;
  }
  const float alpha = 1.0f, beta = 0.0f;
  const auto matmul = [&] {
    FPSCOPE_CUBLAS_CHECK(cublasLtMatmul(h.lt, h.op, &alpha, a.get(), h.a, b.get(), h.b, &beta, d.get(), h.d, d.get(),
                                        h.d, &heuristic.algo, workspace.get(), kWorkspaceBytes, nullptr));
  };
  matmul();  // warm-up
  FPSCOPE_CUDA_CHECK(cudaDeviceSynchronize());
  FPSCOPE_CUDA_CHECK(cudaEventCreate(&h.start));
  FPSCOPE_CUDA_CHECK(cudaEventCreate(&h.stop));
  FPSCOPE_CUDA_CHECK(cudaEventRecord(h.start));
  for (int i = 0; i < o.iterations; ++i) matmul();
  FPSCOPE_CUDA_CHECK(cudaEventRecord(h.stop));
  FPSCOPE_CUDA_CHECK(cudaEventSynchronize(h.stop));
  float ms = 0.0f;
  FPSCOPE_CUDA_CHECK(cudaEventElapsedTime(&ms, h.start, h.stop));
  result.seconds_per_gemm = ms / 1000.0 / std::max(o.iterations, 1);
  result.tflops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) /
                  result.seconds_per_gemm / 1e12;

  // Replay a sample of outputs against the fp64 product of the same inputs (the
  // scaled operands are exact; bf16 output rounding is part of the error).
  std::vector<unsigned char> host_a(a.bytes()), host_b(b.bytes());
  std::vector<std::uint16_t> host_d(d.size());
  FPSCOPE_CUDA_CHECK(cudaMemcpy(host_a.data(), a.get(), a.bytes(), cudaMemcpyDeviceToHost));
  FPSCOPE_CUDA_CHECK(cudaMemcpy(host_b.data(), b.get(), b.bytes(), cudaMemcpyDeviceToHost));
  FPSCOPE_CUDA_CHECK(cudaMemcpy(host_d.data(), d.get(), d.bytes(), cudaMemcpyDeviceToHost));
  const Format bf16 = parse_format("bf16");
  for (std::uint64_t s = 0; s < 256; ++s) {
    const std::uint64_t i = (s * 2654435761u) % m, j = (s * 40503u + 7) % n;
    double exact = 0.0;  // products of 8- or 16-bit values are exact in fp64; the sum nearly so
    double magnitude = 0.0;
    for (std::uint64_t kk = 0; kk < k; ++kk) {
      const double p = decode_element(host_a, i * k + kk, g.element_bytes, f) *
                       decode_element(host_b, j * k + kk, g.element_bytes, f);
      exact += p;
      magnitude += std::fabs(p);
    }
    const double got = decode(host_d[i + j * m], bf16);
    if (magnitude != 0.0) {
      result.max_normalized_error = std::max(result.max_normalized_error, std::fabs(got - exact) / magnitude);
    }
  }
  return result;
}

}  // namespace

double copy_bandwidth_bytes_per_second(std::uint64_t bytes, int iterations) {
  detail::DeviceBuffer<unsigned char> src(bytes), dst(bytes);
  FPSCOPE_CUDA_CHECK(cudaMemset(src.get(), 1, bytes));
  FPSCOPE_CUDA_CHECK(cudaMemcpy(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice));  // warm-up
  cudaEvent_t start = nullptr, stop = nullptr;
  FPSCOPE_CUDA_CHECK(cudaEventCreate(&start));
  FPSCOPE_CUDA_CHECK(cudaEventCreate(&stop));
  float ms = 0.0f;
  FPSCOPE_CUDA_CHECK(cudaEventRecord(start));
  for (int i = 0; i < iterations; ++i) FPSCOPE_CUDA_CHECK(cudaMemcpy(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice));
  FPSCOPE_CUDA_CHECK(cudaEventRecord(stop));
  FPSCOPE_CUDA_CHECK(cudaEventSynchronize(stop));
  FPSCOPE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  // A copy reads and writes every byte: 2 * bytes of traffic per iteration.
  return 2.0 * static_cast<double>(bytes) * iterations / (ms / 1000.0);
}

std::vector<GemmBenchmark> benchmark_gemms(const GemmOptions& options) {
  std::vector<GemmBenchmark> out;
  for (const GemmCase& g : kCases) out.push_back(run_case(g, options));
  return out;
}

}  // namespace fpscope::gpu
