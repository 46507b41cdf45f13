// Property test of the generation rules (docs/architecture.md): a VM migrates at random between
// hosts with random writes, aborted migrations, evictions and restarts, and pages taken by
// content from what the destination holds; a page reported reusable must always hold, on that
// host, the content the VM has, and every page must after a commit. The same model with one rule
// broken must be caught, so the property has teeth.
#include <gtest/gtest.h>

#include "genstore/compare.h"
#include "migration_model.h"

namespace mkd::testing {
namespace {

constexpr int kSeeds = 300;

TEST(MigrationPropertyTest, ReusablePagesAlwaysHoldTheVmsContent) {
  ModelStats stats;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    ModelOptions o;
    o.hosts = 2 + static_cast<int>(seed % 4);
    std::optional<std::string> v = RunMigrationModel(o, seed, &stats);
    ASSERT_FALSE(v.has_value()) << "seed " << seed << ": " << *v;
  }
  // The histories did exercise what the property is about.
  EXPECT_GT(stats.migrations_committed, 1000u);
  EXPECT_GT(stats.migrations_aborted, 300u);
  EXPECT_GT(stats.pages_reused, 100000u);
  EXPECT_GT(stats.restarts, 100u);
  EXPECT_GT(stats.pages_by_content, 1000u);
}

// Each broken rule must be detected in some history.
class BrokenRuleTest : public ::testing::TestWithParam<ModelFault> {};

TEST_P(BrokenRuleTest, IsCaught) {
  int caught = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    ModelOptions o;
    o.fault = GetParam();
    if (RunMigrationModel(o, seed, nullptr).has_value()) ++caught;
  }
  EXPECT_GT(caught, 0) << "a broken rule went unnoticed in " << kSeeds << " histories";
}

INSTANTIATE_TEST_SUITE_P(
    AllFaults, BrokenRuleTest,
    ::testing::Values(ModelFault::kAbortKeepsProvisional, ModelFault::kNoFinalSync,
                      ModelFault::kSameEpochOnArrival, ModelFault::kFreeWithoutInvalidate,
                      ModelFault::kSharedDirtyLog, ModelFault::kArrivalAtStoredEpoch,
                      ModelFault::kTrustFindingDigest));

// The abort case of docs/architecture.md ("Generations"), step by step with the library alone.
TEST(MigrationScenarioTest, PageSentInRoundOneAndRewrittenIsNotReusedAfterAbort) {
  const uint64_t kPages = 4;
  PageBitmap dirty(kPages);
  // The VM booted on A in epoch 1 and wrote every page, then moved to B (epoch 2), leaving its
  // incarnation on A with table {1,1,1,1}.
  GenerationTable on_a(kPages);
  dirty.SetRange(0, kPages);
  ASSERT_TRUE(on_a.ApplyDirty(dirty, 1).ok());
  GenerationTable vm = on_a;
  // On B (epoch 2) it writes page 2.
  dirty.ClearAll();
  dirty.Set(2);
  ASSERT_TRUE(vm.ApplyDirty(dirty, 2).ok());
  // Migration B -> A, round 1: page 2 (generation 2) is sent to A, provisionally.
  PageBitmap reusable(kPages);
  EXPECT_EQ(ComputeReusable(vm, on_a, &reusable).to_send, 1u);
  ASSERT_TRUE(on_a.SetProvisional(2, vm.Get(2)).ok());
  // The guest rewrites page 2, still in epoch 2; then the migration aborts.
  ASSERT_TRUE(vm.ApplyDirty(dirty, 2).ok());
  on_a.AbortProvisional();
  // Next attempt: page 2 has generation 2 in the VM; A's copy (the round-1 content) must not count.
  ASSERT_EQ(vm.Get(2), 2u);
  ReuseSummary again = ComputeReusable(vm, on_a, &reusable);
  EXPECT_FALSE(reusable.Test(2));
  EXPECT_EQ(again, (ReuseSummary{3, 0, 1}));
}

}  // namespace
}  // namespace mkd::testing
