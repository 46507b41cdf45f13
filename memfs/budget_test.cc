// Tests of Budget: what counts against --budget, the eviction order (least recently left first,
// never a file open for writing) and when eviction stops. No files.
#include "memfs/budget.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "genstore/generation.h"

namespace mkd::memfs {
namespace {

TEST(BudgetTest, PagesOverIsWhatStoredIncarnationsHoldBeyondTheBudget) {
  const Budget budget(6 * kPageSize + 100);  // a partial page does not count
  EXPECT_EQ(budget.pages(), 6u);
  EXPECT_EQ(budget.PagesOver({}), 0u);
  EXPECT_EQ(budget.PagesOver({{1, 4, false}, {2, 2, false}}), 0u) << "exactly the budget fits";
  EXPECT_EQ(budget.PagesOver({{1, 4, false}, {2, 4, true}}), 2u)
      << "one open for writing still counts";
}

TEST(BudgetTest, NoBudgetMeansNothingIsEverOver) {
  const Budget budget(UINT64_MAX);
  EXPECT_TRUE(budget.unlimited());
  EXPECT_EQ(budget.PagesOver({{1, uint64_t{1} << 40, false}}), 0u);
  EXPECT_FALSE(Budget(0).unlimited());
  EXPECT_EQ(Budget(0).PagesOver({{1, 1, false}}), 1u);
}

TEST(BudgetTest, TheLeastRecentlyLeftGoFirstAndOneOpenForWritingNever) {
  const std::vector<StoredUsage> stored = {
      {300, 1, false}, {100, 1, false}, {200, 1, true}, {100, 1, false}, {50, 1, false}};
  EXPECT_EQ(Budget::EvictionOrder(stored), (std::vector<size_t>{4, 1, 3, 0}));
}

TEST(BudgetTest, EvictionStopsOnceEnoughIsFreedAndSkipsThoseThatFreeNothing) {
  std::vector<std::pair<size_t, uint64_t>> asked;
  const std::vector<uint64_t> can_free = {3, 0, 5, 4};
  auto evict = [&](size_t i, uint64_t wanted) {
    asked.emplace_back(i, wanted);
    return std::min(can_free[i], wanted);
  };
  EXPECT_EQ(Budget::EvictInOrder({0, 1, 2, 3}, 6, evict), 6u);
  EXPECT_EQ(asked, (std::vector<std::pair<size_t, uint64_t>>{{0, 6}, {1, 3}, {2, 3}}));
  asked.clear();
  EXPECT_EQ(Budget::EvictInOrder({1, 0}, 10, evict), 3u) << "all there is";
  EXPECT_EQ(Budget::EvictInOrder({0}, 0, evict), 0u);
  EXPECT_EQ(asked.size(), 2u) << "nothing wanted, nothing asked";
}

}  // namespace
}  // namespace mkd::memfs
