// DirtyLog: one consumer's syncs never hide pages from another.
#include "memfs/dirty_log.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace mkd::memfs {
namespace {

PageBitmap Pages(uint64_t n, std::initializer_list<uint64_t> set) {
  PageBitmap b(n);
  for (uint64_t p : set) b.Set(p);
  return b;
}

std::set<uint64_t> SetOf(const PageBitmap& b) {
  std::set<uint64_t> s;
  b.ForEachSet([&](uint64_t p) { s.insert(p); });
  return s;
}

TEST(DirtyLogTest, AnotherConsumersSyncDoesNotTakePages) {
  DirtyLog log;
  DirtyLog::Delivery m = log.Deliver("mig-1", Pages(16, {1}));
  EXPECT_TRUE(m.new_consumer);
  EXPECT_EQ(SetOf(m.pages), (std::set<uint64_t>{1}));
  // A third party syncs twice: it takes pages 2 and 3 from the block.
  EXPECT_EQ(SetOf(log.Deliver("", Pages(16, {2})).pages), (std::set<uint64_t>{2}));
  EXPECT_EQ(SetOf(log.Deliver("", Pages(16, {3})).pages), (std::set<uint64_t>{3}));
  // The migration's next sync still sees them, with what its own sync takes.
  m = log.Deliver("mig-1", Pages(16, {4}));
  EXPECT_FALSE(m.new_consumer);
  EXPECT_EQ(SetOf(m.pages), (std::set<uint64_t>{2, 3, 4}));
  // And the third party sees the migration's take at its next sync.
  EXPECT_EQ(SetOf(log.Deliver("", Pages(16, {})).pages), (std::set<uint64_t>{4}));
}

TEST(DirtyLogTest, BoundedConsumersAndAReplacedOneIsReportedNew) {
  DirtyLog log;
  EXPECT_TRUE(log.Deliver("mig-old", Pages(8, {})).new_consumer);
  for (size_t i = 0; i < DirtyLog::kMaxConsumers; ++i) {
    (void)log.Deliver("c" + std::to_string(i), Pages(8, {}));
  }
  EXPECT_EQ(log.consumers(), DirtyLog::kMaxConsumers);
  // mig-old was the least recently used: replaced; its next sync says so.
  EXPECT_TRUE(log.Deliver("mig-old", Pages(8, {})).new_consumer);
  EXPECT_EQ(log.consumers(), DirtyLog::kMaxConsumers);
}

TEST(DirtyLogTest, RandomInterleavingsNeverLoseAPage) {
  // Model: every page taken by any sync must reach every consumer known at the time, at that
  // consumer's next sync or earlier.
  std::mt19937 rng(7);
  const uint64_t n = 64;
  DirtyLog log;
  const std::vector<std::string> names = {"", "a", "mig-x"};
  std::map<std::string, std::set<uint64_t>> owed;
  for (const auto& name : names) (void)log.Deliver(name, PageBitmap(n));
  for (int step = 0; step < 2000; ++step) {
    PageBitmap taken(n);
    for (int k = 0; k < 3; ++k) taken.Set(rng() % n);
    const std::string& who = names[rng() % names.size()];
    for (auto& [name, pages] : owed) {
      for (uint64_t p : SetOf(taken)) pages.insert(p);
    }
    for (uint64_t p : SetOf(taken)) owed[who].insert(p);
    DirtyLog::Delivery d = log.Deliver(who, taken);
    EXPECT_FALSE(d.new_consumer);
    for (uint64_t p : owed[who]) EXPECT_TRUE(d.pages.Test(p)) << who << " missed " << p;
    owed[who].clear();
  }
}

TEST(DirtyLogTest, Names) {
  EXPECT_TRUE(DirtyLog::ValidateName("").ok());
  EXPECT_TRUE(DirtyLog::ValidateName("mig-0a1b2c3d4e5f").ok());
  EXPECT_FALSE(DirtyLog::ValidateName("0abc").ok());
  EXPECT_FALSE(DirtyLog::ValidateName("Mig").ok());
  EXPECT_FALSE(DirtyLog::ValidateName("a.b").ok());
  EXPECT_FALSE(DirtyLog::ValidateName(std::string(33, 'a')).ok());
}

}  // namespace
}  // namespace mkd::memfs
