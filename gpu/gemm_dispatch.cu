// gpu/gemm_dispatch.cu: host side of the cuBLASLt GEMMs (FP8 with per-tensor scales, fast accumulation on/off; BF16): the 8192^3 benchmark, the replay of one quantized GEMM (fpscope gemm --device gpu), and the copy-bandwidth baseline.
//
// NUMERICS.md s5: FP8 on Hopper is TN only (A transposed), compute 32F, scale
// type 32F, 16-byte aligned pointers and leading dimensions; D is bf16 in the
// benchmark, fp32 in the replay (no output rounding beyond the accumulator's).
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
#include "gpu/gemm_replay_host.h"

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

constexpr std::size_t kWorkspaceBytes = std::size_t{64} << 20;

// One TN matmul D = alpha * op(A) * B (+ beta * C, C = D) with compute 32F.
struct MatmulSetup {
  cudaDataType_t a_type{}, b_type{}, d_type{};
  std::uint64_t m = 0, n = 0, k = 0;  // multiples of 16 (NUMERICS.md s5)
  bool fp8 = false;
  bool fast_accum = false;          // FP8 only
  const float* a_scale = nullptr;   // FP8 only: device pointers of the per-tensor dequantisation scales
  const float* b_scale = nullptr;
};

// Creates h's handle, descriptors, layouts and preference for `s` and asks
// cuBLASLt for one algorithm; false when it has none for this device.
bool prepare_matmul(Handles& h, const MatmulSetup& s, cublasLtMatmulHeuristicResult_t& heuristic) {
  FPSCOPE_CUBLAS_CHECK(cublasLtCreate(&h.lt));
  FPSCOPE_CUBLAS_CHECK(cublasLtMatmulDescCreate(&h.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  FPSCOPE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(h.op, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa)));
  FPSCOPE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(h.op, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb)));
  if (s.fp8) {
    FPSCOPE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(h.op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &s.a_scale, sizeof(s.a_scale)));
    FPSCOPE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(h.op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &s.b_scale, sizeof(s.b_scale)));
    const std::int8_t fast = s.fast_accum ? 1 : 0;
    FPSCOPE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(h.op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof(fast)));
  }
  FPSCOPE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&h.a, s.a_type, s.k, s.m, static_cast<std::int64_t>(s.k)));
  FPSCOPE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&h.b, s.b_type, s.k, s.n, static_cast<std::int64_t>(s.k)));
  FPSCOPE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&h.d, s.d_type, s.m, s.n, static_cast<std::int64_t>(s.m)));
  FPSCOPE_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&h.pref));
  FPSCOPE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(h.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                           &kWorkspaceBytes, sizeof(kWorkspaceBytes)));
  int found = 0;
  FPSCOPE_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(h.lt, h.op, h.a, h.b, h.d, h.d, h.pref, 1, &heuristic, &found));
  return found != 0;
}

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
  detail::DeviceBuffer<unsigned char> workspace(kWorkspaceBytes);
  fill_random(a.get(), m * k, g.element_bytes, f, 11);
  fill_random(b.get(), n * k, g.element_bytes, f, 12);
  const float host_scales[2] = {1.0f, 1.0f};  // per-tensor dequantisation scales of A and B
  FPSCOPE_CUDA_CHECK(cudaMemcpy(scales.get(), host_scales, sizeof(host_scales), cudaMemcpyHostToDevice));

  Handles h;
  cublasLtMatmulHeuristicResult_t heuristic{};
  const MatmulSetup setup{g.ab_type, g.ab_type, CUDA_R_16BF, m, n, k, g.fp8, g.fast_accum, scales.get(), scales.get() + 1};
  if (!prepare_matmul(h, setup, heuristic)) {
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

cudaDataType_t cuda_type(detail::DeviceElement e) {
  switch (e) {
    case detail::DeviceElement::e4m3: return CUDA_R_8F_E4M3;
    case detail::DeviceElement::e5m2: return CUDA_R_8F_E5M2;
    case detail::DeviceElement::bf16: return CUDA_R_16BF;
    case detail::DeviceElement::fp16: return CUDA_R_16F;
  }
  return CUDA_R_32F;
}

}  // namespace

std::vector<ExternalGemmProduct> replay_gemm_on_device(const QuantizedGemm& q, int device) {
  const std::vector<detail::DeviceGemmVariant> variants = detail::device_gemm_variants(q.a_element, q.b_element, q.recipe);
  const detail::PackedGemmOperands p = detail::pack_operands(q);
  std::vector<ExternalGemmProduct> out;
  if (p.rows == 0 || p.cols == 0) return out;
  FPSCOPE_CUDA_CHECK(cudaSetDevice(device));
  detail::DeviceBuffer<std::uint8_t> a(p.a.size()), b(p.b.size());
  detail::DeviceBuffer<float> d(p.rows_padded * p.cols_padded);
  detail::DeviceBuffer<float> scales(2);
  detail::DeviceBuffer<unsigned char> workspace(kWorkspaceBytes);
  FPSCOPE_CUDA_CHECK(cudaMemcpy(a.get(), p.a.data(), a.bytes(), cudaMemcpyHostToDevice));
  FPSCOPE_CUDA_CHECK(cudaMemcpy(b.get(), p.b.data(), b.bytes(), cudaMemcpyHostToDevice));
  const float host_scales[2] = {p.a_scale_inv, p.b_scale_inv};
  FPSCOPE_CUDA_CHECK(cudaMemcpy(scales.get(), host_scales, sizeof(host_scales), cudaMemcpyHostToDevice));
  std::vector<float> host_d(d.size());
  for (const detail::DeviceGemmVariant& v : variants) {
    const bool fp8 = detail::is_fp8(v.a);
    Handles h;
    cublasLtMatmulHeuristicResult_t heuristic{};
    const MatmulSetup setup{cuda_type(v.a), cuda_type(v.b), CUDA_R_32F, p.rows_padded, p.cols_padded, p.depth_padded,
                            fp8, v.fast_accum, scales.get(), scales.get() + 1};
    if (!prepare_matmul(h, setup, heuristic)) {
      throw Error("gemm --device gpu: cuBLASLt has no algorithm for " + v.name + " (" + std::to_string(p.rows_padded) +
                  " x " + std::to_string(p.cols_padded) + " x " + std::to_string(p.depth_padded) + ") on this device");
    }
    const float alpha = 1.0f, beta = 0.0f;
    FPSCOPE_CUDA_CHECK(cudaMemset(d.get(), 0, d.bytes()));
    FPSCOPE_CUBLAS_CHECK(cublasLtMatmul(h.lt, h.op, &alpha, a.get(), h.a, b.get(), h.b, &beta, d.get(), h.d, d.get(),
                                        h.d, &heuristic.algo, workspace.get(), kWorkspaceBytes, nullptr));
    FPSCOPE_CUDA_CHECK(cudaGetLastError());
    FPSCOPE_CUDA_CHECK(cudaMemcpy(host_d.data(), d.get(), d.bytes(), cudaMemcpyDeviceToHost));
    ExternalGemmProduct e;
    e.model = v.name;
    e.matching_model = v.matching_model;
    if (fp8) {
      // cuBLASLt applied scale_a * scale_b to the fp32 accumulator in its epilogue and
      // stored D in fp32: the CPU model's scaled product is rounded to fp32 to compare.
      e.product = detail::unpack_product(host_d, p, 1.0);
      e.output_format = parse_format("fp32");
    } else {
      // Unscaled on the device; the scales applied here in binary64, exactly as replay_gemm
      // does for its models (the product of two fp32 scales is exact in binary64).
      e.product = detail::unpack_product(host_d, p, static_cast<double>(p.a_scale_inv) * static_cast<double>(p.b_scale_inv));
    }
    out.push_back(std::move(e));
  }
  return out;
}

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
