// tests/fuzz/fuzz_safetensors.cpp: libFuzzer target: a whole safetensors file, opened and every tensor read.
//
// Invariants checked beyond "no crash, no sanitizer report": every error names
// the file; every float tensor the header accepts can be read (its bytes lie in
// the file) and every other tensor refuses to be read.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string_view>
#include <vector>

#include "analysis/safetensors.h"
#include "core/error.h"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

// Reads elements [first, first + count) as double and as float.
void read_range(fpscope::TensorReader& reader, std::uint64_t first, std::size_t count) {
  std::vector<double> values(count);
  reader.read(first, std::span<double>(values));
  if (reader.info().dtype != fpscope::DType::f64) {
    std::vector<float> floats(count);
    reader.read(first, std::span<float>(floats));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  auto entries = fpscope::open_safetensors(
      fpscope::memory_source("fuzz.safetensors", std::vector<std::byte>(bytes, bytes + size)));
  for (fpscope::DatasetEntry& entry : entries) {
    require((entry.reader == nullptr) != (entry.error == nullptr), "an entry is a reader or an error");
    if (entry.error) {
      require(std::string_view(entry.error->message).starts_with("fuzz.safetensors: "), "errors name the file");
      continue;
    }
    fpscope::TensorReader& reader = *entry.reader;
    const std::uint64_t n = reader.info().element_count();
    if (!fpscope::is_float(reader.info().dtype)) {
      bool refused = false;
      try {
        read_range(reader, 0, n > 0 ? 1 : 0);
      } catch (const fpscope::Error&) {
        refused = true;
      }
      require(refused, "integer tensors refuse to be read");
      continue;
    }
    // Bounded work per input: the first and the last few thousand elements.
    constexpr std::uint64_t kMaxRead = 4096;
    read_range(reader, 0, static_cast<std::size_t>(n < kMaxRead ? n : kMaxRead));
    if (n > kMaxRead) read_range(reader, n - kMaxRead, kMaxRead);
  }
  return 0;
}
