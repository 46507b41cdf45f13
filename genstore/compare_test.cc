// Tests for ComputeReusable and ComputeZeroFill against a page-by-page reference of the rule in
// docs/architecture.md, on random tables of sizes that exercise the SIMD body and the scalar tail.
#include "genstore/compare.h"

#include <gtest/gtest.h>

#include <random>

namespace mkd {
namespace {

GenerationTable RandomTable(std::mt19937_64& rng, uint64_t pages) {
  std::vector<Generation> g(pages);
  const Generation choices[] = {kGenNeverWritten, 1, 2, 3, kGenInvalid};
  for (auto& x : g) x = choices[rng() % 5];
  return GenerationTable::FromGenerations(std::move(g));
}

TEST(CompareTest, MatchesThePageByPageRule) {
  std::mt19937_64 rng(7);
  for (uint64_t pages : {1u, 3u, 4u, 63u, 64u, 65u, 129u, 5000u}) {
    for (int round = 0; round < 10; ++round) {
      GenerationTable vm = RandomTable(rng, pages);
      GenerationTable peer = RandomTable(rng, pages);
      PageBitmap reusable(pages);
      reusable.SetRange(0, pages);  // stale content must be overwritten
      ReuseSummary s = ComputeReusable(vm, peer, &reusable);
      ReuseSummary expect;
      for (uint64_t p = 0; p < pages; ++p) {
        Generation g = vm.Get(p);
        bool reuse = g == peer.Get(p) && g != kGenNeverWritten && g != kGenInvalid;
        EXPECT_EQ(reusable.Test(p), reuse) << "page " << p;
        if (reuse)
          ++expect.reusable;
        else if (g == kGenNeverWritten)
          ++expect.zero;
        else
          ++expect.to_send;
      }
      EXPECT_EQ(s, expect);
      EXPECT_EQ(s.reusable + s.zero + s.to_send, pages);
    }
  }
}

TEST(CompareTest, NoPeerIncarnationMeansNothingReusable) {
  GenerationTable vm = GenerationTable::FromGenerations({0, 1, 1, 2});
  PageBitmap reusable(4);
  ReuseSummary s = ComputeReusable(vm, GenerationTable(), &reusable);
  EXPECT_EQ(s, (ReuseSummary{0, 1, 3}));
  EXPECT_FALSE(reusable.Any());
}

TEST(CompareTest, PagesPastTheEndOfAShorterPeerAreNotReusable) {
  GenerationTable vm = GenerationTable::FromGenerations({1, 1, 1, 1, 0, 1});
  GenerationTable peer = GenerationTable::FromGenerations({1, 1});
  PageBitmap reusable(6);
  ReuseSummary s = ComputeReusable(vm, peer, &reusable);
  EXPECT_EQ(s, (ReuseSummary{2, 1, 3}));
  EXPECT_TRUE(reusable.Test(1));
  EXPECT_FALSE(reusable.Test(2));
}

TEST(CompareTest, ProvisionalPeerPagesAreNeverReusable) {
  GenerationTable vm = GenerationTable::FromGenerations({4, 4, 4});
  GenerationTable peer = GenerationTable::FromGenerations({4, 4, 4});
  ASSERT_TRUE(peer.SetProvisional(1, 4).ok());
  PageBitmap reusable(3);
  EXPECT_EQ(ComputeReusable(vm, peer, &reusable), (ReuseSummary{2, 0, 1}));
  EXPECT_FALSE(reusable.Test(1));
}

TEST(CompareTest, ZeroFillListsZeroPagesThePeerHoldsOtherwise) {
  GenerationTable vm = GenerationTable::FromGenerations({0, 0, 0, 1});
  GenerationTable peer = GenerationTable::FromGenerations({0, 2, kGenInvalid, 1});
  PageBitmap fill(4);
  ComputeZeroFill(vm, peer, &fill);
  EXPECT_FALSE(fill.Test(0));
  EXPECT_TRUE(fill.Test(1));
  EXPECT_TRUE(fill.Test(2));
  EXPECT_FALSE(fill.Test(3));
}

}  // namespace
}  // namespace mkd
