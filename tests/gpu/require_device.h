// tests/gpu/require_device.h: FPSCOPE_REQUIRE_DEVICE(), the visible skip of the `gpu`-labelled tests where no CUDA device is present.
#pragma once

#include <gtest/gtest.h>

#include "core/error.h"
#include "gpu/fpscope_gpu.h"

// Skips the test (shown as "skipped", never as passed) unless this build has CUDA
// and device 0 answers; the reason names what is missing.
#define FPSCOPE_REQUIRE_DEVICE()                                                                     \
  do {                                                                                               \
    if (!::fpscope::gpu::built_with_cuda()) GTEST_SKIP() << "skipped: no CUDA device (built without CUDA)"; \
    try {                                                                                            \
      ::fpscope::gpu::device_info();                                                                 \
    } catch (const ::fpscope::Error& e) {                                                            \
      GTEST_SKIP() << "skipped: no CUDA device (" << e.what() << ")";                                \
    }                                                                                                \
  } while (0)
