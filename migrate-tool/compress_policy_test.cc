// Tests for CompressPolicy (compress_policy.h): when the source compresses PAGES frames.
#include "migrate-tool/compress_policy.h"

#include <gtest/gtest.h>

namespace mkd::migrate {
namespace {

constexpr double kLink = 119e6;

// Tries until the policy says no (that frame is not tried); returns how many frames it tried.
uint64_t TriesWhile(CompressPolicy& p, uint64_t raw, uint64_t compressed, double seconds) {
  uint64_t n = 0;
  while (p.Try() && n < 10'000) {
    p.Record(raw, compressed, seconds, kLink);
    ++n;
  }
  return n;
}

TEST(CompressPolicyTest, NeverAndAlwaysDoWhatTheySay) {
  CompressPolicy never(CompressMode::kNever), always(CompressMode::kAlways);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(never.Try());
    EXPECT_TRUE(always.Try());
    always.Record(4096, 4096, 1.0, kLink);  // never pays: tried all the same
  }
}

TEST(CompressPolicyTest, AutoKeepsCompressingWhatPays) {
  CompressPolicy p(CompressMode::kAuto);
  // A page that halves in 10 us: 410 MB/s of compressing, faster than the 119 MB/s link.
  EXPECT_EQ(TriesWhile(p, 4096, 2048, 10e-6), 10'000u);
  // Measured (bench-compress, a used login guest): 1 MiB frames shrinking to 0.51 in 3.9 ms
  // (268 MB/s). The saved half would take the link 4.4 ms: about the CPU spent, yet compressing
  // every frame made the hop 30 % shorter.
  CompressPolicy used(CompressMode::kAuto);
  EXPECT_EQ(TriesWhile(used, 1 << 20, 535'000, 3.9e-3), 10'000u);
}

TEST(CompressPolicyTest, AutoStopsWhenTooLittleShrinks) {
  // 1/10 saved, fast: not worth the tries.
  CompressPolicy p(CompressMode::kAuto);
  EXPECT_EQ(TriesWhile(p, 4096, 3686, 1e-6), CompressPolicy::kWindow);
}

TEST(CompressPolicyTest, AutoStopsTryingWhatDoesNotPayAndTriesAgainLater) {
  CompressPolicy p(CompressMode::kAuto);
  // Random pages: nothing saved, 8 us spent on each.
  EXPECT_EQ(TriesWhile(p, 4096, 4096, 8e-6), CompressPolicy::kWindow);
  uint64_t skipped = 1;  // the frame TriesWhile stopped at
  while (!p.Try()) ++skipped;
  EXPECT_EQ(skipped, CompressPolicy::kSkip);
  // Still random: another window of tries, another pause.
  p.Record(4096, 4096, 8e-6, kLink);
  EXPECT_EQ(TriesWhile(p, 4096, 4096, 8e-6), CompressPolicy::kWindow - 1);
  skipped = 1;
  while (!p.Try()) ++skipped;
  EXPECT_EQ(skipped, CompressPolicy::kSkip);
  // The content turned compressible: compressing goes on.
  p.Record(4096, 1024, 8e-6, kLink);
  EXPECT_EQ(TriesWhile(p, 4096, 1024, 8e-6), 10'000u);
}

TEST(CompressPolicyTest, AutoGivesUpWhenTheCpuIsSlowerThanTheLink) {
  // Halved, but 100 us a page (41 MB/s): the compressor would hold the 119 MB/s link back.
  CompressPolicy p(CompressMode::kAuto);
  EXPECT_EQ(TriesWhile(p, 4096, 2048, 100e-6), CompressPolicy::kWindow);
  // On a slower link (1 MB/s) the same pays.
  CompressPolicy slow(CompressMode::kAuto);
  uint64_t n = 0;
  while (slow.Try() && n < 1000) {
    slow.Record(4096, 2048, 100e-6, 1e6);
    ++n;
  }
  EXPECT_EQ(n, 1000u);
}

TEST(CompressPolicyTest, ModeNamesRoundTrip) {
  for (CompressMode m : {CompressMode::kAuto, CompressMode::kAlways, CompressMode::kNever}) {
    EXPECT_EQ(ParseCompressMode(CompressModeName(m)), m);
  }
  EXPECT_FALSE(ParseCompressMode("zstd").has_value());
}

}  // namespace
}  // namespace mkd::migrate
