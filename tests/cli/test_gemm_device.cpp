// tests/cli/test_gemm_device.cpp: `fpscope gemm --device`: without a CUDA build or device, --device gpu is a one-line usage error (exit 2), and so are recipes and formats cuBLASLt cannot replay.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/cli/run_fpscope.h"

namespace fpscope::test {
namespace {

// One line on stderr, nothing on stdout, exit 2.
void expect_usage_error(const RunResult& r, const std::string& line) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  const std::vector<std::string> lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0], line);
}

TEST(cli_gemm_device, gpu_without_cuda_or_device_is_a_usage_error) {
  const RunResult r = run_fpscope({"gemm", "--device", "gpu", "--formats", "e4m3/e4m3", "--recipes", "tensor"});
  if (r.exit_code == 0) GTEST_SKIP() << "skipped: this build has CUDA and a device is present";
  expect_gpu_unavailable(r, "gemm");
}

// Refused before the device is looked for, so these hold with or without one.
TEST(cli_gemm_device, recipes_without_one_scale_per_operand_are_refused) {
  expect_usage_error(run_fpscope({"gemm", "--device", "gpu", "--formats", "e4m3", "--recipes", "tensor,row"}),
                     "fpscope: gemm --device gpu: recipe 'row' cannot replay on the device: cuBLASLt's FP8 GEMM takes "
                     "one scale per operand (A/B_SCALE_POINTER), so only per-tensor recipes (tensor[:pow2][:margin=N]) "
                     "run there");
  const RunResult none = run_fpscope({"gemm", "--device", "gpu", "--recipes", "none"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("recipe 'none' cannot replay on the device"), std::string::npos) << none.err;
}

TEST(cli_gemm_device, formats_cublaslt_cannot_multiply_are_refused) {
  // e5m2 for X and W: the forward GEMM would be e5m2 x e5m2.
  expect_usage_error(run_fpscope({"gemm", "--device", "gpu", "--formats", "e5m2", "--recipes", "tensor"}),
                     "fpscope: gemm --device gpu: formats e5m2*e5m2: cuBLASLt has no e5m2 x e5m2 GEMM (NUMERICS.md s5: "
                     "e4m3 x e4m3, e4m3 x e5m2, e5m2 x e4m3)");
  // The gradient GEMMs pair dY's format with W's / X's.
  const RunResult mixed = run_fpscope({"gemm", "--device", "gpu", "--formats", "bf16/e4m3"});
  EXPECT_EQ(mixed.exit_code, 2);
  EXPECT_NE(mixed.err.find("formats e4m3*bf16: cuBLASLt takes two FP8 operands"), std::string::npos) << mixed.err;
  const RunResult e3m2 = run_fpscope({"gemm", "--device", "gpu", "--formats", "e3m2"});
  EXPECT_EQ(e3m2.exit_code, 2);
  EXPECT_NE(e3m2.err.find("cuBLASLt multiplies e4m3, e5m2 (FP8), bf16 and fp16 operands only"), std::string::npos)
      << e3m2.err;
}

TEST(cli_gemm_device, k_sweep_and_unknown_devices_are_usage_errors) {
  expect_usage_error(run_fpscope({"gemm", "--device", "gpu", "--k-sweep", "--formats", "e4m3"}),
                     "fpscope: gemm --device gpu: --k-sweep runs the CPU models only; leave out --device gpu");
  const RunResult r = run_fpscope({"gemm", "--device", "tpu"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tpu"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace fpscope::test
