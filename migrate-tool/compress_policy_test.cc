// Tests for CompressPolicy (compress_policy.h): when the source compresses PAGES frames.
#include "migrate-tool/compress_policy.h"

#include <gtest/gtest.h>

namespace mkd::migrate {
namespace {

constexpr double kLink = 119e6;

// Tries until the policy says no (that frame is not tried) or `limit` frames were tried; returns
// how many frames it tried.
uint64_t TriesWhile(CompressPolicy& p, uint64_t raw, double seconds, uint64_t limit = 10'000,
                    double link = kLink) {
  uint64_t n = 0;
  while (n < limit && p.Try()) {
    p.Record(raw, seconds, link);
    ++n;
  }
  return n;
}

TEST(CompressPolicyTest, NeverAndAlwaysDoWhatTheySay) {
  CompressPolicy never(CompressMode::kNever), always(CompressMode::kAlways);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(never.Try());
    EXPECT_TRUE(always.Try());
    always.Record(4096, 1.0, kLink);  // far slower than the link: tried all the same
  }
}

TEST(CompressPolicyTest, AutoTriesEveryFrameWhileTheCompressorKeepsUp) {
  // 10 us a page: 410 MB/s of compressing, faster than the 119 MB/s link. Whether a frame
  // shrinks is not the policy's business: random frames are tried as much as any.
  CompressPolicy p(CompressMode::kAuto);
  EXPECT_EQ(TriesWhile(p, 4096, 10e-6), 10'000u);
  // Measured (bench-compress, a used login guest): 1 MiB frames in 3.9 ms (268 MB/s).
  CompressPolicy used(CompressMode::kAuto);
  EXPECT_EQ(TriesWhile(used, 1 << 20, 3.9e-3), 10'000u);
}

TEST(CompressPolicyTest, AutoJudgesTheCompressorOnAllItTriedNotOnOneWindow) {
  // Two-page frames in 20 us each (410 MB/s): a window is 256 KiB and 0.64 ms of CPU.
  CompressPolicy p(CompressMode::kAuto);
  EXPECT_EQ(TriesWhile(p, 8192, 20e-6), 10'000u);
  // One frame takes 3 ms (the thread was preempted): its window alone went at 72 MB/s, under
  // the link, but all tried so far keep up: the tries go on.
  ASSERT_TRUE(p.Try());
  p.Record(8192, 3e-3, kLink);
  EXPECT_EQ(TriesWhile(p, 8192, 20e-6), 10'000u);
}

TEST(CompressPolicyTest, AutoStopsTryingWhileTheCompressorIsSlowerThanTheLink) {
  // 100 us a page (41 MB/s): the compressor would hold the 119 MB/s link back.
  CompressPolicy p(CompressMode::kAuto);
  EXPECT_EQ(TriesWhile(p, 4096, 100e-6), CompressPolicy::kWindow);
  uint64_t skipped = 1;  // the frame TriesWhile stopped at
  while (!p.Try()) ++skipped;
  EXPECT_EQ(skipped, CompressPolicy::kSkip);
  // Still slow: another window of tries, another pause.
  p.Record(4096, 100e-6, kLink);
  EXPECT_EQ(TriesWhile(p, 4096, 100e-6), CompressPolicy::kWindow - 1);
  // The host got faster (1 us a page): once all tried so far keep up, the tries go on.
  while (!p.Try()) {
  }
  p.Record(4096, 1e-6, kLink);
  uint64_t windows = 0;
  while (TriesWhile(p, 4096, 1e-6, 100'000) < 100'000 && windows < 100) {
    while (!p.Try()) {
    }
    p.Record(4096, 1e-6, kLink);
    ++windows;
  }
  EXPECT_LT(windows, 100u);
  // On a slower link (1 MB/s) the slow compressor keeps up.
  CompressPolicy slow(CompressMode::kAuto);
  EXPECT_EQ(TriesWhile(slow, 4096, 100e-6, 1000, 1e6), 1000u);
}

TEST(CompressPolicyTest, ModeNamesRoundTrip) {
  for (CompressMode m : {CompressMode::kAuto, CompressMode::kAlways, CompressMode::kNever}) {
    EXPECT_EQ(ParseCompressMode(CompressModeName(m)), m);
  }
  EXPECT_FALSE(ParseCompressMode("zstd").has_value());
}

}  // namespace
}  // namespace mkd::migrate
