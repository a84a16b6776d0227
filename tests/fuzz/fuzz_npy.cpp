// tests/fuzz/fuzz_npy.cpp: libFuzzer target: the .npy header parser (analysis/npy.h parse_npy_header).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "analysis/npy.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    for (const bool fortran : {false, true}) {
      const fpscope::NpyHeader h = fpscope::parse_npy_header(std::span<const unsigned char>(data, size), size,
                                                             "f.npy", {.allow_fortran_order = fortran});
      // An accepted header describes exactly the bytes that follow it.
      if (h.data_offset > size || h.data_bytes != size - h.data_offset ||
          h.data_bytes != h.element_count * fpscope::dtype_size(h.dtype)) {
        std::abort();
      }
    }
  } catch (const fpscope::Error& e) {
    if (!std::string_view(e.what()).starts_with("f.npy: ")) std::abort();
  }
  return 0;
}
