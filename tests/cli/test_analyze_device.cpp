// tests/cli/test_analyze_device.cpp: `fpscope analyze --device`: without a CUDA build or device, --device gpu is a one-line usage error (exit 2), as validate --target gpu.
#include <gtest/gtest.h>

#include <string>

#include "tests/cli/run_fpscope.h"

namespace fpscope::test {
namespace {

TEST(cli_analyze_device, gpu_without_cuda_or_device_is_a_usage_error) {
  const RunResult r = run_fpscope({"analyze", "--device", "gpu", "--formats", "e4m3", "--recipes", "tensor", "--quiet"});
  if (r.exit_code == 0) GTEST_SKIP() << "skipped: this build has CUDA and a device is present";
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  const std::vector<std::string> lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  const bool no_cuda =
      lines[0] == "fpscope: analyze --device gpu: this fpscope was built without CUDA (nvcc was not found at configure time)";
  const bool no_device = lines[0].rfind("fpscope: analyze --device gpu: no CUDA device", 0) == 0;
  EXPECT_TRUE(no_cuda || no_device) << lines[0];
}

TEST(cli_analyze_device, unknown_device_is_a_usage_error) {
  const RunResult r = run_fpscope({"analyze", "--device", "tpu"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tpu"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace fpscope::test
