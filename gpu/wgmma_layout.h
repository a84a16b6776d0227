// gpu/wgmma_layout.h: layout arithmetic of wgmma.mma_async (sm_90a), callable from host and device: the shared-memory matrix descriptor, no-swizzle K-major offsets, and the register fragments of A and of the f32 accumulator.
//
// Section numbers are those of the PTX ISA (8.x/9.x) chapter "Asynchronous
// Warpgroup Level Matrix Multiply-Accumulate Instructions":
//   9.7.15.5.1.1   register fragments (the m64nNk16 and m64nNk32 figures),
//   9.7.15.5.1.2   shared-memory matrix layout (the "None / K" swizzle atom is
//                  8 x 1 units of 16 bytes: one core matrix of 8 rows x 16 B),
//   9.7.15.5.1.2.2 matrix descriptor format.
// The device code (gpu/wgmma_warpgroup.cuh) computes every address with these
// functions, so the host test (tests/gpu/test_wgmma_layout.cpp) checks the
// mapping the kernel uses, not a copy of it.
#pragma once

#include <cstdint>

#include "core/config.h"

namespace fpscope::gpu::detail {

// Descriptor bits 63-62 (9.7.15.5.1.2.2).
enum class WgmmaSwizzle : std::uint8_t { none = 0, bytes128 = 1, bytes64 = 2, bytes32 = 3 };

// The fields of a shared-memory matrix descriptor, in bytes.
struct WgmmaDescriptorFields {
  std::uint32_t start_address = 0;        // shared-window address (__cvta_generic_to_shared)
  std::uint32_t leading_byte_offset = 0;  // K-major: between core matrices adjacent in K
  std::uint32_t stride_byte_offset = 0;   // K-major: between core matrices adjacent in M or N
  std::uint32_t base_offset = 0;          // 3 bits; unused (0) without swizzling
  WgmmaSwizzle swizzle = WgmmaSwizzle::none;
};

// 9.7.15.5.1.2.2: matrix-descriptor-encode(x) = (x & 0x3FFFF) >> 4, a 14-bit field.
FPSCOPE_HD constexpr std::uint64_t matrix_descriptor_encode(std::uint32_t bytes) {
  return (std::uint64_t{bytes} & 0x3FFFF) >> 4;
}

// 9.7.15.5.1.2.2: start address in bits 13-0, leading byte offset in 29-16,
// stride byte offset in 45-32, base offset in 51-49, swizzle mode in 63-62.
FPSCOPE_HD constexpr std::uint64_t wgmma_descriptor(const WgmmaDescriptorFields& f) {
  return matrix_descriptor_encode(f.start_address) | (matrix_descriptor_encode(f.leading_byte_offset) << 16) |
         (matrix_descriptor_encode(f.stride_byte_offset) << 32) | ((std::uint64_t{f.base_offset} & 0x7) << 49) |
         (std::uint64_t{static_cast<std::uint8_t>(f.swizzle)} << 62);
}

// Byte offset of byte `k_byte` of row `row` (an M row of A or an N row of B) in
// a K-major matrix without swizzling (9.7.15.5.1.2): core matrices of 8 rows x
// 16 contiguous bytes, LBO apart along K and SBO apart along M/N.
FPSCOPE_HD constexpr int wgmma_k_major_offset(int row, int k_byte, int leading_byte_offset, int stride_byte_offset) {
  return (k_byte / 16) * leading_byte_offset + (row / 8) * stride_byte_offset + (row % 8) * 16 + k_byte % 16;
}

struct MatrixCoord {
  int row = 0;
  int col = 0;
  friend constexpr bool operator==(const MatrixCoord&, const MatrixCoord&) = default;
};

// Element `element` (0 .. 4 * 4/element_bytes - 1, "a0, a1, ..." low to high)
// of A held in registers by thread `thread` (0..127) of the warpgroup, for
// m64nNk16 (.f16/.bf16, element_bytes 2) and m64nNk32 (.e4m3/.e5m2, 1).
// 9.7.15.5.1.1 figures: warp w owns rows 16w..16w+15 and, within them, the
// layout of mma.m16n8k16 / m16n8k32 A: lane = 4 * group + t; a 32-bit register
// r holds E = 4 / element_bytes consecutive k; registers alternate rows
// group / group + 8 and the second pair covers the upper half of K.
FPSCOPE_HD constexpr MatrixCoord wgmma_a_fragment(int thread, int element, int element_bytes) {
  const int per_register = 4 / element_bytes;
  const int warp = thread / 32, lane = thread % 32;
  const int group = lane / 4, t = lane % 4;
  const int reg = element / per_register;
  const int half_k = 4 * per_register;  // K / 2
  return {16 * warp + group + 8 * (reg % 2), per_register * t + element % per_register + half_k * (reg / 2)};
}

// Element `index` (d0, d1, ... ; 0 .. N/2 - 1) of the f32 accumulator D (64 x N)
// held by thread `thread` (9.7.15.5.1.1, the m64nNk* accumulator figure):
// warp w owns rows 16w..16w+15; each group of 4 registers covers 8 columns,
// pairs of adjacent columns 2t, 2t+1 in rows group and group + 8.
FPSCOPE_HD constexpr MatrixCoord wgmma_accumulator_fragment(int thread, int index) {
  const int warp = thread / 32, lane = thread % 32;
  const int group = lane / 4, t = lane % 4;
  return {16 * warp + group + 8 * ((index / 2) % 2), 8 * (index / 4) + 2 * t + index % 2};
}

// The probe tiles: m64n8kK, A (64 x K) from registers, B (8 x K, K-major) from
// shared memory without swizzling. B is 8 rows x 32 bytes for every type (K = 16
// two-byte or 32 one-byte elements): two core matrices along K.
struct WgmmaProbeTile {
  static constexpr int kM = 64;
  static constexpr int kN = 8;
  static constexpr int kThreads = 128;           // one warpgroup
  static constexpr int kRowBytes = 32;           // K * element bytes
  static constexpr int kBBytes = kN * kRowBytes;  // 256
  static constexpr int kLeadingByteOffset = 128;  // the second core matrix along K follows the first
  static constexpr int kStrideByteOffset = 256;   // the next 8 rows of N (none for N = 8) after both
  static constexpr int kAccumulators = kN / 2;    // f32 registers per thread
  static constexpr int kARegisters = 4;           // 32-bit registers of A per thread
};

}  // namespace fpscope::gpu::detail
