// tests/cli/test_analyze_device.cpp: `fpscope analyze --device`: without a CUDA build or device, --device gpu is a one-line usage error (exit 2), as validate --target gpu.
#include <gtest/gtest.h>

#include <string>

#include "tests/cli/run_fpscope.h"

namespace fpscope::test {
namespace {

TEST(cli_analyze_device, gpu_without_cuda_or_device_is_a_usage_error) {
  const RunResult r = run_fpscope({"analyze", "--device", "gpu", "--formats", "e4m3", "--recipes", "tensor", "--quiet"});
  if (r.exit_code == 0) GTEST_SKIP() << "skipped: this build has CUDA and a device is present";
  expect_gpu_unavailable(r, "analyze");
}

TEST(cli_analyze_device, unknown_device_is_a_usage_error) {
  const RunResult r = run_fpscope({"analyze", "--device", "tpu"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tpu"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace fpscope::test
