// tests/gpu/test_wgmma_layout.cpp: gpu/wgmma_layout.h on the CPU: the wgmma matrix descriptor, no-swizzle K-major offsets and register fragments, against values worked out by hand from the PTX ISA.
//
// Section numbers are the PTX ISA's (wgmma chapter 9.7.15, mma.sync 9.7.14).
// Expected values below were derived by hand from the ISA's tables and figures,
// not printed by the code under test.
#include "gpu/wgmma_layout.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace fpscope::gpu::detail {
namespace {

// 9.7.15.5.1.2.2: the descriptor the probe kernel builds for its B tile at
// shared address 0x400: 0x400 >> 4 = 0x40 in bits 13-0, 128 >> 4 = 8 in 29-16,
// 256 >> 4 = 16 in 45-32, swizzle 0.
static_assert(wgmma_descriptor({.start_address = 0x400, .leading_byte_offset = 128, .stride_byte_offset = 256}) ==
              0x0000'0010'0008'0040);

TEST(wgmma_layout, descriptor_fields_sit_where_the_ptx_table_puts_them) {
  EXPECT_EQ(wgmma_descriptor({.start_address = 0x400, .leading_byte_offset = 128, .stride_byte_offset = 256}),
            0x0000'0010'0008'0040u);
  // A 128-byte-swizzled K-major operand as GEMM kernels use it: LBO field 1 (unused
  // when swizzled), SBO 1024 bytes (8 rows of 128 B) = 64, swizzle 1 in bits 63-62.
  EXPECT_EQ(wgmma_descriptor({.start_address = 0x1000,
                              .leading_byte_offset = 16,
                              .stride_byte_offset = 1024,
                              .swizzle = WgmmaSwizzle::bytes128}),
            0x4000'0040'0001'0100u);
  EXPECT_EQ(wgmma_descriptor({.swizzle = WgmmaSwizzle::bytes64}), 0x8000'0000'0000'0000u);
  EXPECT_EQ(wgmma_descriptor({.swizzle = WgmmaSwizzle::bytes32}), 0xC000'0000'0000'0000u);
  // Base offset: 3 bits at 51-49 (5 << 49 = 0x000A'0000'0000'0000).
  EXPECT_EQ(wgmma_descriptor({.base_offset = 5}), 0x000A'0000'0000'0000u);
  EXPECT_EQ(wgmma_descriptor({.base_offset = 9}), 0x0002'0000'0000'0000u);  // only 3 bits kept
}

// matrix-descriptor-encode(x) = (x & 0x3FFFF) >> 4: 18 address bits, the low 4 dropped.
TEST(wgmma_layout, descriptor_encode_keeps_address_bits_17_to_4) {
  EXPECT_EQ(matrix_descriptor_encode(0x400), 0x40u);
  EXPECT_EQ(matrix_descriptor_encode(0x40F), 0x40u);
  EXPECT_EQ(matrix_descriptor_encode(0x3FFF0), 0x3FFFu);  // the largest: 14 bits
  EXPECT_EQ(matrix_descriptor_encode(0x40010), 0x1u);     // bit 18 and up ignored
  // Each field stays in its 14 bits: the largest values touch nothing else.
  EXPECT_EQ(wgmma_descriptor({.start_address = 0x3FFFF}), 0x0000'0000'0000'3FFFu);
  EXPECT_EQ(wgmma_descriptor({.leading_byte_offset = 0x3FFFF}), 0x0000'0000'3FFF'0000u);
  EXPECT_EQ(wgmma_descriptor({.stride_byte_offset = 0x3FFFF}), 0x0000'3FFF'0000'0000u);
}

// 9.7.15.5.1.2 ("None" swizzle, K-major: 8 x 1 atoms of 16 bytes, i.e. core
// matrices of 8 rows x 16 B): rows 16 B apart, the next 16 bytes of K one LBO
// away, the next 8 rows one SBO away.
TEST(wgmma_layout, k_major_offsets_match_hand_derived_entries) {
  constexpr int lbo = WgmmaProbeTile::kLeadingByteOffset, sbo = WgmmaProbeTile::kStrideByteOffset;
  EXPECT_EQ(wgmma_k_major_offset(0, 0, lbo, sbo), 0);
  EXPECT_EQ(wgmma_k_major_offset(0, 15, lbo, sbo), 15);
  EXPECT_EQ(wgmma_k_major_offset(0, 16, lbo, sbo), 128);
  EXPECT_EQ(wgmma_k_major_offset(1, 0, lbo, sbo), 16);
  EXPECT_EQ(wgmma_k_major_offset(3, 20, lbo, sbo), 128 + 48 + 4);
  EXPECT_EQ(wgmma_k_major_offset(7, 31, lbo, sbo), 255);
  EXPECT_EQ(wgmma_k_major_offset(8, 0, lbo, sbo), 256);
}

// The probe's B tile (8 rows x 32 bytes) and a 64 x 32-byte A-sized tile fill
// their bytes exactly once: no two (row, byte) pairs share an address.
TEST(wgmma_layout, k_major_offsets_are_a_bijection_onto_the_tile) {
  for (const int rows : {8, 64}) {
    const int bytes = rows * WgmmaProbeTile::kRowBytes;
    std::vector<int> hits(static_cast<std::size_t>(bytes), 0);
    for (int row = 0; row < rows; ++row) {
      for (int k_byte = 0; k_byte < WgmmaProbeTile::kRowBytes; ++k_byte) {
        const int offset = wgmma_k_major_offset(row, k_byte, WgmmaProbeTile::kLeadingByteOffset,
                                                WgmmaProbeTile::kStrideByteOffset);
        ASSERT_GE(offset, 0);
        ASSERT_LT(offset, bytes) << "row " << row << " byte " << k_byte;
        ++hits[static_cast<std::size_t>(offset)];
      }
    }
    for (int i = 0; i < bytes; ++i) EXPECT_EQ(hits[static_cast<std::size_t>(i)], 1) << rows << " rows, offset " << i;
  }
}

// Every (row, col) of a rows x cols tile is hit once by `coord(thread, index)`.
template <typename Coord>
void expect_bijection(int rows, int cols, int per_thread, Coord coord) {
  std::vector<int> hits(static_cast<std::size_t>(rows * cols), 0);
  for (int thread = 0; thread < WgmmaProbeTile::kThreads; ++thread) {
    for (int i = 0; i < per_thread; ++i) {
      const MatrixCoord at = coord(thread, i);
      ASSERT_TRUE(at.row >= 0 && at.row < rows && at.col >= 0 && at.col < cols)
          << "thread " << thread << " element " << i << " -> (" << at.row << ", " << at.col << ")";
      ++hits[static_cast<std::size_t>(at.row * cols + at.col)];
    }
  }
  for (int e = 0; e < rows * cols; ++e) {
    EXPECT_EQ(hits[static_cast<std::size_t>(e)], 1) << "(" << e / cols << ", " << e % cols << ")";
  }
}

TEST(wgmma_layout, a_fragments_cover_the_tile_once) {
  // m64nNk32 .e4m3: four .b32 registers of four elements = 16 per thread, 64 x 32.
  expect_bijection(64, 32, 16, [](int thread, int i) { return wgmma_a_fragment(thread, i, 1); });
  // m64nNk16 .f16/.bf16: four .f16x2 registers = 8 per thread, 64 x 16.
  expect_bijection(64, 16, 8, [](int thread, int i) { return wgmma_a_fragment(thread, i, 2); });
}

TEST(wgmma_layout, accumulator_fragments_cover_the_tile_once) {
  expect_bijection(64, 8, 4, wgmma_accumulator_fragment);     // the probe's N = 8
  expect_bijection(64, 256, 128, wgmma_accumulator_fragment);  // the largest N
}

// Entries read off the PTX ISA figures (9.7.15.5.1.1, "WGMMA .m64nNk32 register
// fragment layout for matrix A" and the m64nNk16 ones): T0 holds a0..a3 = row 0,
// cols 0..3, a4..a7 row 8, a8..a11 row 0 cols 16..19; T1 starts at col 4; T4 is
// row 1; warp 1 (T32) starts at row 16; T127 ends at (63, 31).
TEST(wgmma_layout, a_fragments_match_the_ptx_figures) {
  EXPECT_EQ(wgmma_a_fragment(0, 0, 1), (MatrixCoord{0, 0}));
  EXPECT_EQ(wgmma_a_fragment(0, 3, 1), (MatrixCoord{0, 3}));
  EXPECT_EQ(wgmma_a_fragment(0, 4, 1), (MatrixCoord{8, 0}));
  EXPECT_EQ(wgmma_a_fragment(0, 8, 1), (MatrixCoord{0, 16}));
  EXPECT_EQ(wgmma_a_fragment(0, 15, 1), (MatrixCoord{8, 19}));
  EXPECT_EQ(wgmma_a_fragment(1, 0, 1), (MatrixCoord{0, 4}));
  EXPECT_EQ(wgmma_a_fragment(4, 0, 1), (MatrixCoord{1, 0}));
  EXPECT_EQ(wgmma_a_fragment(31, 0, 1), (MatrixCoord{7, 12}));
  EXPECT_EQ(wgmma_a_fragment(32, 0, 1), (MatrixCoord{16, 0}));
  EXPECT_EQ(wgmma_a_fragment(127, 15, 1), (MatrixCoord{63, 31}));
  // .f16: a0, a1 = (0, 0), (0, 1); a2 = (8, 0); a4 = (0, 8); T1 starts at col 2.
  EXPECT_EQ(wgmma_a_fragment(0, 1, 2), (MatrixCoord{0, 1}));
  EXPECT_EQ(wgmma_a_fragment(0, 2, 2), (MatrixCoord{8, 0}));
  EXPECT_EQ(wgmma_a_fragment(0, 4, 2), (MatrixCoord{0, 8}));
  EXPECT_EQ(wgmma_a_fragment(0, 7, 2), (MatrixCoord{8, 9}));
  EXPECT_EQ(wgmma_a_fragment(1, 0, 2), (MatrixCoord{0, 2}));
  EXPECT_EQ(wgmma_a_fragment(127, 7, 2), (MatrixCoord{63, 15}));
}

// The kernel loads each A register with one aligned 32-bit read of row-major A:
// that needs the register's elements to be consecutive columns of one row,
// starting at a multiple of 4 bytes.
TEST(wgmma_layout, a_registers_are_aligned_runs_of_one_row) {
  for (const int element_bytes : {1, 2}) {
    const int per_register = 4 / element_bytes;
    for (int thread = 0; thread < WgmmaProbeTile::kThreads; ++thread) {
      for (int reg = 0; reg < WgmmaProbeTile::kARegisters; ++reg) {
        const MatrixCoord first = wgmma_a_fragment(thread, reg * per_register, element_bytes);
        EXPECT_EQ(first.col * element_bytes % 4, 0) << "thread " << thread << " register " << reg;
        for (int e = 1; e < per_register; ++e) {
          EXPECT_EQ(wgmma_a_fragment(thread, reg * per_register + e, element_bytes),
                    (MatrixCoord{first.row, first.col + e}))
              << "thread " << thread << " register " << reg << " element " << e;
        }
      }
    }
  }
}

// Each warp's share of A is the mma.sync A fragment shifted by 16 w rows. The
// mma.sync layouts are given in the ISA as formulas (9.7.14.5, "Matrix Fragments
// for mma.m16n8k16" .f16 and "for mma.m16n8k32" .e4m3): row = groupID for a_i with i < E or 2E <= i < 3E,
// else groupID + 8; col = threadID_in_group * E + (i mod E), plus K/2 for i >= 2E.
TEST(wgmma_layout, a_fragments_are_the_mma_sync_fragments_per_warp) {
  for (const int element_bytes : {1, 2}) {
    const int e = 4 / element_bytes, k = 8 * e;
    for (int thread = 0; thread < WgmmaProbeTile::kThreads; ++thread) {
      const int warp = thread / 32, group = (thread % 32) >> 2, t = thread % 4;
      for (int i = 0; i < 4 * e; ++i) {
        const int row = (i < e || (i >= 2 * e && i < 3 * e)) ? group : group + 8;
        const int col = t * e + i % e + (i >= 2 * e ? k / 2 : 0);
        EXPECT_EQ(wgmma_a_fragment(thread, i, element_bytes), (MatrixCoord{16 * warp + row, col}))
            << "bytes " << element_bytes << " thread " << thread << " a" << i;
      }
    }
  }
}

// The accumulator figure (9.7.15.5.1.1, "WGMMA .m64nNk* register fragment layout
// for accumulator matrix D"): T0 holds d0, d1 = (0, 0), (0, 1) and d2, d3 =
// (8, 0), (8, 1); T1 starts at col 2; d4.. continue at col 8; warp 3 ends at row 63.
TEST(wgmma_layout, accumulator_fragments_match_the_ptx_figure) {
  EXPECT_EQ(wgmma_accumulator_fragment(0, 0), (MatrixCoord{0, 0}));
  EXPECT_EQ(wgmma_accumulator_fragment(0, 1), (MatrixCoord{0, 1}));
  EXPECT_EQ(wgmma_accumulator_fragment(0, 2), (MatrixCoord{8, 0}));
  EXPECT_EQ(wgmma_accumulator_fragment(0, 3), (MatrixCoord{8, 1}));
  EXPECT_EQ(wgmma_accumulator_fragment(1, 0), (MatrixCoord{0, 2}));
  EXPECT_EQ(wgmma_accumulator_fragment(4, 0), (MatrixCoord{1, 0}));
  EXPECT_EQ(wgmma_accumulator_fragment(36, 0), (MatrixCoord{17, 0}));
  EXPECT_EQ(wgmma_accumulator_fragment(0, 4), (MatrixCoord{0, 8}));
  EXPECT_EQ(wgmma_accumulator_fragment(0, 7), (MatrixCoord{8, 9}));
  EXPECT_EQ(wgmma_accumulator_fragment(127, 3), (MatrixCoord{63, 7}));
}

// The probe tile's constants fit the instruction: B is 8 x 32 bytes (two core
// matrices), the offsets fit the 14-bit fields, and 128 threads x 4 f32 = 64 x 8.
TEST(wgmma_layout, probe_tile_constants_are_consistent) {
  EXPECT_EQ(WgmmaProbeTile::kBBytes, 2 * 8 * 16);
  EXPECT_EQ(WgmmaProbeTile::kLeadingByteOffset, 8 * 16);
  EXPECT_EQ(matrix_descriptor_encode(WgmmaProbeTile::kStrideByteOffset) << 4,
            std::uint64_t{WgmmaProbeTile::kStrideByteOffset});
  EXPECT_EQ(WgmmaProbeTile::kThreads * WgmmaProbeTile::kAccumulators, WgmmaProbeTile::kM * WgmmaProbeTile::kN);
}

}  // namespace
}  // namespace fpscope::gpu::detail
