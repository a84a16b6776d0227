// tests/fuzz/fuzz_safetensors_header.cpp: libFuzzer target: the JSON header alone, validated against a 4 KiB data section.
//
// Feeding the JSON directly (no 8-byte length to get right) lets the fuzzer
// explore the header grammar faster than the whole-file target does.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "analysis/safetensors.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::uint64_t kDataBytes = 4096;
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    const fpscope::SafetensorsHeader header = fpscope::parse_safetensors_header(json, kDataBytes, "h.safetensors");
    for (const fpscope::SafetensorsTensor& t : header.tensors) {
      // Accepted tensors lie inside the data section and match shape x dtype size.
      std::uint64_t count = 1;
      for (const std::int64_t d : t.shape) count *= static_cast<std::uint64_t>(d);
      if (t.begin > t.end || t.end > kDataBytes || t.end - t.begin != count * fpscope::dtype_size(t.dtype)) {
        std::fprintf(stderr, "accepted tensor '%s' is inconsistent\n", t.name.c_str());
        std::abort();
      }
    }
  } catch (const fpscope::Error& e) {
    if (!std::string_view(e.what()).starts_with("h.safetensors: ")) std::abort();
  }
  return 0;
}
