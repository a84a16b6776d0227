// tests/gpu/test_fpscope_gpu.cpp: gpu/fpscope_gpu.h: conversion availability per architecture (host) and, on a device, sweeps, probes and GEMMs.
//
// Without FPSCOPE_GPU_DEVICE_TESTS (label unit) only host logic runs, so CI and
// the sanitizer build check it. With it (label gpu) each test needs a CUDA
// device and reports "skipped: no CUDA device" (GTEST_SKIP, shown as skipped by
// ctest) without one.
#include "gpu/fpscope_gpu.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/accumulate.h"
#include "core/error.h"
#include "tests/gpu/require_device.h"

namespace fpscope::gpu {
namespace {

#ifndef FPSCOPE_GPU_DEVICE_TESTS

DeviceInfo fake_device(int major, int minor) {
  DeviceInfo d;
  d.name = "fake";
  d.compute_major = major;
  d.compute_minor = minor;
  return d;
}

TEST(fpscope_gpu, a_build_without_cuda_says_so) {
  if (built_with_cuda()) GTEST_SKIP() << "skipped: this build has CUDA";
  try {
    device_info();
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "device query: this fpscope was built without CUDA (nvcc was not found at configure time)");
  }
}

// NUMERICS.md s3: fp8 cvt from sm_89; fp6/fp4/e8m0 cvt only on sm_100a-family devices.
TEST(fpscope_gpu, conversions_available_per_architecture) {
  if (!built_with_cuda()) GTEST_SKIP() << "skipped: built without CUDA";
  const auto available = [](const std::vector<GpuConversion>& list, const std::string& name) {
    for (const GpuConversion& c : list) {
      if (c.name == name) return c.unavailable.empty();
    }
    ADD_FAILURE() << "no conversion " << name;
    return false;
  };
  const std::vector<GpuConversion> hopper = gpu_conversions(fake_device(9, 0));
  EXPECT_TRUE(available(hopper, "cvt.rn.satfinite.e4m3x2.f32"));
  EXPECT_TRUE(available(hopper, "__float2bfloat16_rn"));
  EXPECT_FALSE(available(hopper, "cvt.rn.satfinite.e2m1x2.f32"));
  EXPECT_FALSE(available(hopper, "cvt.rz.satfinite.ue8m0x2.f32"));
  for (const GpuConversion& c : hopper) {
    if (c.name == "cvt.rn.satfinite.e2m3x2.f32") {
      EXPECT_NE(c.unavailable.find("needs an sm_100a-family GPU; sm_90 has no hardware"), std::string::npos)
          << c.unavailable;
    }
  }
  const std::vector<GpuConversion> ampere = gpu_conversions(fake_device(8, 6));
  EXPECT_FALSE(available(ampere, "cvt.rn.satfinite.e5m2x2.f32"));
  EXPECT_TRUE(available(ampere, "__float2half_rz"));
  // The formats encode() is given are the saturating ones for satfinite.
  for (const GpuConversion& c : hopper) {
    if (c.name == "cvt.rn.satfinite.e4m3x2.f32") {
      EXPECT_EQ(c.format, parse_format("e4m3:sat=finite"));
      EXPECT_EQ(c.rounding.mode, Mode::rne);
    }
  }
}

#else  // FPSCOPE_GPU_DEVICE_TESTS

// Every conversion the device has, on a strided sweep: nothing but NaN-encoding
// differences (the CUDA headers' host paths agree with encode() apart from the
// NaN bytes, core/ORACLES.md; the hardware is expected to as well).
TEST(fpscope_gpu_device, conversions_agree_with_encode) {
  FPSCOPE_REQUIRE_DEVICE();
  const DeviceInfo device = device_info();
  int ran = 0;
  for (const GpuConversion& c : gpu_conversions(device)) {
    if (!c.unavailable.empty()) {
      std::printf("skipped: %s (%s)\n", c.name.c_str(), c.unavailable.c_str());
      continue;
    }
    ++ran;
    const ValidationResult r = validate_conversion(c, SweepRange{0, std::uint64_t{1} << 32, 251}, 4);
    EXPECT_EQ(r.inputs_checked, ((std::uint64_t{1} << 32) + 250) / 251) << c.name;
    const MismatchClass allowed[] = {MismatchClass::nan_encoding};
    EXPECT_EQ(r.disallowed_mismatches(allowed), 0u) << c.name;
    for (int k = 0; k < kMismatchClasses; ++k) {
      for (const MismatchExample& m : r.examples[static_cast<std::size_t>(k)]) {
        std::printf("%s %s: input 0x%08x expected 0x%llx actual 0x%llx\n", c.name.c_str(),
                    std::string(mismatch_class_name(static_cast<MismatchClass>(k))).c_str(), m.input,
                    static_cast<unsigned long long>(m.expected), static_cast<unsigned long long>(m.actual));
      }
    }
  }
  EXPECT_GT(ran, 0);
}

// Fasi et al. probes: every path reports K, F, alignment, output rounding,
// carry and its agreement rate; the parameters and bit-identical agreement are
// expected only where NUMERICS.md s4 documents the model for this device.
// Documented (MMA-Sim, simulator/nv.py): mma.sync f16/bf16, and on Hopper
// wgmma f16/bf16 (F = 25, one group of 16) and wgmma e4m3 (F = 13, K = 32,
// e8m13 result). Not documented: mma.sync e4m3 on Hopper (MMA-Sim has no
// Hopper model of it; it may not use the QGMMA datapath), so it is reported only.
TEST(fpscope_gpu_device, probes_match_their_models) {
  FPSCOPE_REQUIRE_DEVICE();
  const DeviceInfo device = device_info();
  const int cc = device.compute_major * 10 + device.compute_minor;
  ProbeOptions options;
  options.random_tiles = 2000;
  const std::vector<ProbeResult> results = probe_tensor_cores(options);
  int wgmma_paths = 0;
  for (const ProbeResult& r : results) {
    const bool wgmma = r.instruction.starts_with("wgmma.");
    wgmma_paths += wgmma ? 1 : 0;
    EXPECT_EQ(r.unavailable.find("not implemented"), std::string::npos) << r.instruction;
    if (!r.unavailable.empty()) {
      std::printf("skipped: %s (%s)\n", r.instruction.c_str(), r.unavailable.c_str());
      // This build always compiles the probes for sm_90a, so a Hopper runs wgmma.
      EXPECT_FALSE(wgmma && cc == 90) << r.instruction << ": " << r.unavailable;
      continue;
    }
    std::printf("%s vs %s: exact products %d, K %d, F %d, alignment %s, output %s, carry bits >= %d, "
                "%llu/%llu tiles bit-identical (%.4f%%)\n",
                r.instruction.c_str(), r.model_spec.c_str(), r.exact_products ? 1 : 0, r.group_size,
                r.fraction_bits, r.alignment.c_str(), r.output_rounding.c_str(), r.carry_bits,
                static_cast<unsigned long long>(r.tiles_bit_identical), static_cast<unsigned long long>(r.tiles),
                r.tiles == 0 ? 0.0 : 100.0 * static_cast<double>(r.tiles_bit_identical) / static_cast<double>(r.tiles));
    EXPECT_EQ(r.tiles, options.random_tiles) << r.instruction;
    EXPECT_TRUE(r.exact_products) << r.instruction;
    const bool fp8 = r.instruction.find("e4m3") != std::string::npos;
    const bool documented = !fp8 || (wgmma && cc == 90);
    if (!documented) continue;
    const AccumulationModel model = parse_accumulation_model(r.model_spec);
    EXPECT_EQ(r.fraction_bits, model.fraction_bits) << r.instruction;
    EXPECT_EQ(r.carry_bits >= 3, true) << r.instruction;
    EXPECT_EQ(r.alignment, "truncate") << r.instruction;
    if (wgmma) {
      EXPECT_EQ(r.group_size, model.group_size) << r.instruction;
    }
    EXPECT_EQ(r.tiles_bit_identical, r.tiles) << r.instruction << " vs " << r.model_spec;
  }
  EXPECT_EQ(wgmma_paths, 3);  // f16, bf16, e4m3: run, or unavailable with the reason
}

TEST(fpscope_gpu_device, small_gemms_are_accurate) {
  FPSCOPE_REQUIRE_DEVICE();
  EXPECT_GT(copy_bandwidth_bytes_per_second(std::uint64_t{1} << 26, 2), 0.0);
  GemmOptions o;
  o.m = o.n = o.k = 256;
  o.iterations = 1;
  for (const GemmBenchmark& g : benchmark_gemms(o)) {
    if (!g.unavailable.empty()) {
      std::printf("skipped: %s (%s)\n", g.name.c_str(), g.unavailable.c_str());
      continue;
    }
    // |error| / sum |a b|: bf16 output rounding gives at most 2^-9; fp8 accumulation
    // with 13 fraction bits over K = 256 (NUMERICS.md s4) stays well below 2^-5.
    EXPECT_LT(g.max_normalized_error, 0x1p-5) << g.name;
    EXPECT_GT(g.tflops, 0.0) << g.name;
  }
}

#endif  // FPSCOPE_GPU_DEVICE_TESTS

}  // namespace
}  // namespace fpscope::gpu
