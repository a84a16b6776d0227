// tests/analysis/memory_reader.h: a TensorReader over values in memory, for the engine, result and GPU tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "analysis/tensor.h"
#include "core/error.h"

namespace fpscope::testing_support {

// Serves `data` as the tensor `name` of "mem.safetensors" (dtype F32 by default).
// Tests may edit info_ (dtype, layer, ...) and set fail_at_: a read covering that
// element index throws, as a file that turns out to be truncated does.
class MemoryReader : public TensorReader {
 public:
  MemoryReader(std::string name, std::vector<std::int64_t> shape, std::vector<double> data, std::int64_t step = -1)
      : data_(std::move(data)) {
    info_.file = "mem.safetensors";
    info_.name = std::move(name);
    info_.shape = std::move(shape);
    info_.step = step;
  }
  const TensorInfo& info() const override { return info_; }
  void read(std::uint64_t first, std::span<double> out) override {
    check(first, out.size());
    std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(first), out.size(), out.begin());
  }
  void read(std::uint64_t first, std::span<float> out) override {
    check(first, out.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(data_[first + i]);
  }

  TensorInfo info_;
  std::vector<double> data_;
  std::uint64_t fail_at_ = ~std::uint64_t{0};

 private:
  void check(std::uint64_t first, std::size_t count) const {
    if (first + count > fail_at_ && fail_at_ >= first) {
      throw Error(info_.file + ": tensor '" + info_.name + "': read failed");
    }
  }
};

}  // namespace fpscope::testing_support
