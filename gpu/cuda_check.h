// gpu/cuda_check.h: every CUDA runtime call checked: an error becomes fpscope::Error naming the call, file and line.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

#include "core/error.h"

namespace fpscope::gpu::detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  throw Error(std::string("CUDA error: ") + call + " at " + file + ":" + std::to_string(line) + ": " +
              cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
}

}  // namespace fpscope::gpu::detail

// Wraps a cudaError_t-returning call (STYLE.md, the CUB habit: every CUDA call's error is checked).
#define FPSCOPE_CUDA_CHECK(call)                                                           \
  do {                                                                                     \
    const cudaError_t fpscope_cuda_status_ = (call);                                       \
    if (fpscope_cuda_status_ != cudaSuccess) {                                             \
      ::fpscope::gpu::detail::throw_cuda_error(fpscope_cuda_status_, #call, __FILE__, __LINE__); \
    }                                                                                      \
  } while (0)

namespace fpscope::gpu::detail {

// Device memory freed on scope exit (so an exception thrown by a check leaks nothing).
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t count) : count_(count) {
    FPSCOPE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), count * sizeof(T) + (count == 0 ? 1 : 0)));
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }

 private:
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace fpscope::gpu::detail
