// gpu/fpscope_gpu.h: the public entry points of gpu/ (plain C++, no CUDA headers): device query, conversion sweeps, analysis statistics, tensor-core probes, cuBLASLt GEMM (benchmark and replay).
//
// Built from the CUDA sources when nvcc is found at configure time, otherwise
// from gpu/no_cuda.cpp, whose functions throw fpscope::Error saying so; callers
// (cli/) link fpscope::gpu either way and need no #ifdef. Every CUDA error
// becomes an fpscope::Error naming the call, file and line (gpu/cuda_check.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/engine.h"
#include "analysis/gemm.h"
#include "analysis/validate.h"
#include "core/format.h"
#include "core/round.h"

namespace fpscope::gpu {

// True when this fpscope was built with the CUDA sources.
bool built_with_cuda();

struct DeviceInfo {
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  int multiprocessors = 0;
  std::uint64_t memory_bytes = 0;
  std::string compiled_architectures;  // the sm_XX list of this build, e.g. "89 90a"
};

// The device `device`; throws fpscope::Error when there is none ("no CUDA device: ...")
// or the build has no CUDA.
DeviceInfo device_info(int device = 0);

// ---- (1) conversion sweeps: the GPU's cvt instructions vs encode() on the device ----

// One hardware conversion of the device (NUMERICS.md s3).
struct GpuConversion {
  std::string name;         // "cvt.rn.satfinite.e4m3x2.f32"
  std::string format_spec;  // the spec encode() is given: "e4m3:sat=finite"
  Format format{};
  Rounding rounding{};
  std::string unavailable;  // empty when it runs on this device and build
  int kernel_id = 0;        // internal: which device conversion
};

// Every known conversion, with `unavailable` set for those the device (or the
// architectures this build was compiled for) lack: fp4/fp6/e8m0 need sm_100a.
std::vector<GpuConversion> gpu_conversions(const DeviceInfo& device);

// Every pattern of `range` through the conversion on the device, compared with
// encode() compiled for the device; mismatches classified and counted there
// (classify_mismatch), the first `max_examples` of each class brought back.
ValidationResult validate_conversion(const GpuConversion& conversion, SweepRange range, int max_examples);

// ---- (2) analysis statistics on the device (fpscope analyze --device gpu) ----

// An engine evaluator (EngineOptions::evaluator) that evaluates each chunk on
// device `device`: the source statistics and every combination, equal to the
// CPU's evaluate_chunk_cpu (counts, histograms and exact sums bit for bit).
// Device buffers are allocated once per evaluator and grown when a chunk needs
// more; chunks of at most 2^31 elements. Throws fpscope::Error without a
// device ("no CUDA device: ...") or in a build without CUDA.
ChunkEvaluator make_chunk_evaluator(int device = 0);

struct AnalysisBenchmarkOptions {
  std::uint64_t elements = std::uint64_t{1} << 28;  // device-resident doubles holding float32 values
  std::uint64_t cols = 4096;
  int iterations = 3;  // the best is reported
  std::uint64_t seed = 1;
};

struct AnalysisBenchmark {
  std::string name;                    // "e4m3 tensor", "default sweep (...)"
  std::size_t combinations = 0;
  std::uint64_t elements = 0;
  double kernel_seconds = 0.0;         // device time of the kernels (events)
  double wall_seconds = 0.0;           // with the mirrors' copies and the host fold
  double input_bytes_per_second = 0.0; // elements x 8 bytes / kernel_seconds
};

// The analysis kernels' throughput on device-resident data: e4m3 with `tensor`
// scaling, and the default sweep (issue 7's targets: >= 70% and >= 25% of the
// device copy bandwidth).
std::vector<AnalysisBenchmark> benchmark_analysis(const AnalysisBenchmarkOptions& options = {});

// ---- (3) tensor-core probes (NUMERICS.md s4; Fasi et al. 2021) ----

struct ProbeOptions {
  std::uint64_t random_tiles = 100'000;  // tiles compared bit for bit with the CPU model
  std::uint64_t seed = 1;
};

// What one instruction path showed.
struct ProbeResult {
  std::string instruction;       // "mma.sync.m16n8k16 f16 -> f32"
  std::string model_spec;        // the core/accumulate.h model it is compared with
  std::string unavailable;       // empty when it ran
  bool exact_products = false;   // (1-2^-11)^2 kept exactly
  int group_size = 0;            // K: products summed before one normalisation
  int fraction_bits = 0;         // F: fraction bits kept below the largest exponent
  std::string alignment;         // "truncate" or "round"
  std::string output_rounding;   // rounding of the fp32 result: "rtz" or "rne"
  int carry_bits = 0;            // >= 3 when the carry-out probe gives 8
  std::uint64_t tiles = 0;       // random tiles compared
  std::uint64_t tiles_bit_identical = 0;
  double seconds = 0.0;
};

std::vector<ProbeResult> probe_tensor_cores(const ProbeOptions& options);

// ---- (4) cuBLASLt GEMMs and the copy-bandwidth baseline ----

struct GemmOptions {
  int m = 8192;
  int n = 8192;
  int k = 8192;
  int iterations = 10;
};

struct GemmBenchmark {
  std::string name;         // "cublasLt fp8 e4m3 x e4m3 -> bf16, fast accum"
  std::string unavailable;  // empty when it ran
  double tflops = 0.0;
  // max |D - exact| / sum_k |a_k b_k| over 256 sampled outputs, exact = the fp64
  // product of the same inputs (a cancellation-proof relative error).
  double max_normalized_error = 0.0;
  double seconds_per_gemm = 0.0;
};

// Device-to-device copy bandwidth in bytes per second (the run's baseline).
double copy_bandwidth_bytes_per_second(std::uint64_t bytes = std::uint64_t{1} << 30, int iterations = 10);

// FP8 (per-tensor scales, fast accumulation on and off) and BF16 GEMMs through
// cuBLASLt: throughput, and the error of a sampled set of outputs against the
// fp64 product of the same inputs.
std::vector<GemmBenchmark> benchmark_gemms(const GemmOptions& options);

// ---- (5) one replayed GEMM through cuBLASLt (fpscope gemm --device gpu) ----

// Why cuBLASLt cannot replay GEMMs of operand formats a x b under `recipe` (one
// line), or "" when it can: `tensor` recipes only (one scale per operand, the
// FP8 A/B_SCALE_POINTER), e4m3/e5m2 pairs but not e5m2 x e5m2, bf16 x bf16,
// fp16 x fp16 (NUMERICS.md s5). Needs no device; every build has it.
std::string gemm_replay_unsupported(const Format& a, const Format& b, const Recipe& recipe);

// replay_gemm's quantized operands multiplied on device `device` by cuBLASLt,
// D in fp32 (compute 32F): FP8 with the per-tensor scales as A/B_SCALE_POINTER,
// FAST_ACCUM off ("gpu:cublaslt e4m3*e4m3 fp32-out", matching nv-h100-fp8-promote128)
// and on ("... fast-accum", matching nv-h100-fp8); bf16/fp16 unscaled, their
// scales applied to D in binary64 as replay_gemm does (matching nv-h100-hmma).
// K, M and N are padded with zeros to multiples of 16 (cuBLASLt's alignment;
// zero products leave the outputs unchanged). Usable as replay_gemm's
// ExternalGemmProducts. Throws fpscope::Error for unsupported formats or recipes
// (gemm_replay_unsupported), without a device, or in a build without CUDA.
std::vector<ExternalGemmProduct> replay_gemm_on_device(const QuantizedGemm& q, int device = 0);

}  // namespace fpscope::gpu
