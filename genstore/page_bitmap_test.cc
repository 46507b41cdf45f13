// Tests for PageBitmap: single bits, ranges across word edges, counting, runs and set algebra,
// checked against a plain std::vector<bool> model on random data.
#include "genstore/page_bitmap.h"

#include <gtest/gtest.h>

#include <random>
#include <utility>
#include <vector>

namespace mkd {
namespace {

std::vector<std::pair<uint64_t, uint64_t>> Runs(const PageBitmap& b) {
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  b.ForEachRun([&](uint64_t first, uint64_t count) { runs.emplace_back(first, count); });
  return runs;
}

std::vector<std::pair<uint64_t, uint64_t>> ModelRuns(const std::vector<bool>& m) {
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  for (uint64_t i = 0; i < m.size();) {
    if (!m[i]) {
      ++i;
      continue;
    }
    uint64_t j = i;
    while (j < m.size() && m[j]) ++j;
    runs.emplace_back(i, j - i);
    i = j;
  }
  return runs;
}

TEST(PageBitmapTest, NewBitmapIsClear) {
  PageBitmap b(1000);
  EXPECT_EQ(b.pages(), 1000u);
  EXPECT_EQ(b.Count(), 0u);
  EXPECT_FALSE(b.Any());
  EXPECT_EQ(b.NextSet(0), 1000u);
  EXPECT_TRUE(Runs(b).empty());
}

TEST(PageBitmapTest, SetTestClearSingleBits) {
  PageBitmap b(130);
  for (uint64_t p : {0u, 63u, 64u, 127u, 128u, 129u}) b.Set(p);
  EXPECT_EQ(b.Count(), 6u);
  EXPECT_TRUE(b.Test(63));
  EXPECT_TRUE(b.Test(64));
  EXPECT_FALSE(b.Test(65));
  b.Clear(64);
  EXPECT_FALSE(b.Test(64));
  EXPECT_EQ(b.NextSet(64), 127u);
  EXPECT_EQ(b.NextSet(130), 130u);
}

TEST(PageBitmapTest, RangesAcrossWordEdges) {
  PageBitmap b(300);
  b.SetRange(60, 10);  // 60..69 crosses a word edge
  EXPECT_EQ(Runs(b), (std::vector<std::pair<uint64_t, uint64_t>>{{60, 10}}));
  b.SetRange(100, 200);  // to the very end
  EXPECT_EQ(b.Count(), 210u);
  b.ClearRange(64, 150);
  EXPECT_EQ(Runs(b), (std::vector<std::pair<uint64_t, uint64_t>>{{60, 4}, {214, 86}}));
  b.SetRange(5, 0);  // empty range is a no-op
  EXPECT_EQ(b.Count(), 90u);
}

TEST(PageBitmapTest, RunsAndCountsMatchModelOnRandomData) {
  std::mt19937_64 rng(42);
  for (uint64_t pages : {1u, 63u, 64u, 65u, 1000u, 4097u}) {
    for (int round = 0; round < 20; ++round) {
      PageBitmap b(pages);
      std::vector<bool> m(pages);
      for (int op = 0; op < 30; ++op) {
        uint64_t first = rng() % pages;
        uint64_t count = rng() % (pages - first + 1);
        bool set = rng() % 2;
        if (set)
          b.SetRange(first, count);
        else
          b.ClearRange(first, count);
        for (uint64_t i = first; i < first + count; ++i) m[i] = set;
      }
      EXPECT_EQ(Runs(b), ModelRuns(m)) << "pages=" << pages;
      uint64_t n = 0;
      for (bool x : m) n += x;
      EXPECT_EQ(b.Count(), n);
      std::vector<uint64_t> set_pages;
      b.ForEachSet([&](uint64_t p) { set_pages.push_back(p); });
      EXPECT_EQ(set_pages.size(), n);
      for (uint64_t p : set_pages) EXPECT_TRUE(m[p]);
    }
  }
}

TEST(PageBitmapTest, SetAlgebra) {
  PageBitmap a(200), b(200);
  a.SetRange(0, 100);
  b.SetRange(50, 100);
  PageBitmap and_ab = a;
  and_ab.And(b);
  EXPECT_EQ(Runs(and_ab), (std::vector<std::pair<uint64_t, uint64_t>>{{50, 50}}));
  PageBitmap or_ab = a;
  or_ab.Or(b);
  EXPECT_EQ(Runs(or_ab), (std::vector<std::pair<uint64_t, uint64_t>>{{0, 150}}));
  PageBitmap a_not_b = a;
  a_not_b.AndNot(b);
  EXPECT_EQ(Runs(a_not_b), (std::vector<std::pair<uint64_t, uint64_t>>{{0, 50}}));
}

TEST(PageBitmapTest, HoldsAOneTebibyteVm) {
  PageBitmap b(kMaxPages);
  b.Set(kMaxPages - 1);
  b.SetRange(0, 3);
  EXPECT_EQ(b.Count(), 4u);
  EXPECT_EQ(b.NextSet(3), kMaxPages - 1);
  EXPECT_EQ(Runs(b), (std::vector<std::pair<uint64_t, uint64_t>>{{0, 3}, {kMaxPages - 1, 1}}));
}

TEST(PageBitmapDeathTest, IndexPastTheEndAborts) {
  PageBitmap b(10);
  EXPECT_DEATH(b.Set(10), "invariant broken");
  EXPECT_DEATH(PageBitmap(kMaxPages + 1), "invariant broken");
}

}  // namespace
}  // namespace mkd
