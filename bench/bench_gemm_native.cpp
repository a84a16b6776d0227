// bench/bench_gemm_native.cpp: the native fp32 GEMM baseline (Eigen, one thread, AVX2+FMA) for bench_gemm.cpp.
//
// Compiled with -mavx2 -mfma (bench/CMakeLists.txt) so the baseline is the
// machine's real fp32 speed; called only after a CPU check.
#include <Eigen/Core>

#include <chrono>
#include <ctime>
#include <cstddef>

namespace fpscope::bench {
namespace {
// CPU seconds of this thread: the 2-core development machine is shared, so wall
// time would measure the other jobs too.
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
}  // namespace

// out (rows x cols) = a (rows x depth) * b (cols x depth)^T, row-major; returns
// the thread CPU seconds one call takes (best of `repeats`).
double native_sgemm_seconds(const float* a, const float* b, float* out, std::size_t rows, std::size_t cols,
                            std::size_t depth, int repeats) {
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const Matrix> ma(a, static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(depth));
  const Eigen::Map<const Matrix> mb(b, static_cast<Eigen::Index>(cols), static_cast<Eigen::Index>(depth));
  Eigen::Map<Matrix> mo(out, static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const double start = thread_seconds();
    mo.noalias() = ma * mb.transpose();
    const double s = thread_seconds() - start;
    if (s < best) best = s;
  }
  return best;
}

}  // namespace fpscope::bench
