// Tests for ThrottlePolicy (throttle_policy.h): when the throttle rises, by how much, where it
// stops, and which options are refused.
#include "migrate-tool/throttle_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace mkd::migrate {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMiB = uint64_t{1} << 20;

TEST(ThrottlePolicyTest, TwoHotRoundsRaiseToInitialThenEachHotRoundHalvesWhatIsLeft) {
  ThrottlePolicy p({.initial_percent = 20, .step_percent = 10, .max_percent = 99});
  EXPECT_EQ(p.percent(), 0u);
  EXPECT_EQ(p.AfterRound(60 * kMiB, 100 * kMiB), 0u);   // hot, but only once
  EXPECT_EQ(p.AfterRound(60 * kMiB, 100 * kMiB), 20u);  // second hot round in a row
  EXPECT_EQ(p.steps(), 1u);
  // Throttled: every hot round rises; the vCPUs keep 40, 20, 10 % of their time, then the step
  // (10) is more than half of what is left: 90 + 10, at most 99.
  std::vector<uint32_t> seen;
  for (int i = 0; i < 5; ++i) seen.push_back(p.AfterRound(60 * kMiB, 100 * kMiB));
  EXPECT_EQ(seen, (std::vector<uint32_t>{60, 80, 90, 99, 99}));
  EXPECT_EQ(p.steps(), 5u);  // the last hot round, at the maximum, is no rise
}

TEST(ThrottlePolicyTest, AFurtherRiseAddsAtLeastTheStep) {
  ThrottlePolicy p({.initial_percent = 70, .step_percent = 20, .max_percent = 95});
  p.AfterRound(1, 0);
  EXPECT_EQ(p.AfterRound(1, 0), 70u);
  EXPECT_EQ(p.AfterRound(1, 0), 90u);  // halving what is left would give 85
  EXPECT_EQ(p.AfterRound(1, 0), 95u);  // max
}

TEST(ThrottlePolicyTest, ACalmRoundWhileThrottledHoldsTheThrottle) {
  ThrottlePolicy p({});
  p.AfterRound(1, 0);
  ASSERT_EQ(p.AfterRound(1, 0), 20u);
  EXPECT_EQ(p.AfterRound(10 * kMiB, 100 * kMiB), 20u);  // calm: no rise, no fall
  EXPECT_EQ(p.AfterRound(60 * kMiB, 100 * kMiB), 60u);  // hot again: rises at once
}

TEST(ThrottlePolicyTest, ACalmRoundBetweenHotOnesKeepsTheThrottle) {
  ThrottlePolicy p({});
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(p.AfterRound(90 * kMiB, 100 * kMiB), 0u);  // hot
    EXPECT_EQ(p.AfterRound(10 * kMiB, 100 * kMiB), 0u);  // calm: resets the count
  }
  EXPECT_EQ(p.steps(), 0u);
}

TEST(ThrottlePolicyTest, ExactlyHalfIsNotHot) {
  ThrottlePolicy p({});
  EXPECT_EQ(p.AfterRound(50, 100), 0u);
  EXPECT_EQ(p.AfterRound(50, 100), 0u);
  EXPECT_EQ(p.AfterRound(2, 3), 0u);  // 2 > 1.5
  EXPECT_EQ(p.AfterRound(2, 3), 20u);
  ThrottlePolicy odd({});
  EXPECT_EQ(odd.AfterRound(1, 3), 0u);  // 1 < 1.5
  EXPECT_EQ(odd.AfterRound(1, 3), 0u);
  EXPECT_EQ(odd.steps(), 0u);
}

TEST(ThrottlePolicyTest, NothingSentButPagesDirtiedIsHotAndNothingAtAllIsCalm) {
  ThrottlePolicy p({});
  EXPECT_EQ(p.AfterRound(0, 0), 0u);
  EXPECT_EQ(p.AfterRound(0, 0), 0u);
  EXPECT_EQ(p.AfterRound(4096, 0), 0u);
  EXPECT_EQ(p.AfterRound(4096, 0), 20u);
}

TEST(ThrottlePolicyTest, NeverAboveMaxAndStepsCountOnlyRises) {
  ThrottlePolicy p({.initial_percent = 30, .step_percent = 25, .max_percent = 70});
  const uint64_t huge = UINT64_MAX;
  std::vector<uint32_t> seen;
  for (int i = 0; i < 12; ++i) seen.push_back(p.AfterRound(huge, huge));
  EXPECT_EQ(seen, (std::vector<uint32_t>{0, 30, 65, 70, 70, 70, 70, 70, 70, 70, 70, 70}));
  EXPECT_EQ(p.steps(), 3u);
}

TEST(ThrottlePolicyTest, InitialEqualToMaxRisesOnce) {
  ThrottlePolicy p({.initial_percent = 50, .step_percent = 10, .max_percent = 50});
  for (int i = 0; i < 8; ++i) p.AfterRound(1, 0);
  EXPECT_EQ(p.percent(), 50u);
  EXPECT_EQ(p.steps(), 1u);
}

TEST(ThrottlePolicyTest, OptionsOutsideTheirRangesAreClampedNotTrusted) {
  ThrottlePolicy p({.initial_percent = 0, .step_percent = 500, .max_percent = 100});
  p.AfterRound(1, 0);
  EXPECT_EQ(p.AfterRound(1, 0), 1u);
  EXPECT_EQ(p.AfterRound(1, 0), 99u);
}

TEST(ThrottlePolicyTest, CheckThrottleOptionsNamesTheCommandLineOption) {
  EXPECT_TRUE(CheckThrottleOptions({}).ok());
  EXPECT_TRUE(
      CheckThrottleOptions({.initial_percent = 1, .step_percent = 1, .max_percent = 1}).ok());
  EXPECT_TRUE(
      CheckThrottleOptions({.initial_percent = 99, .step_percent = 99, .max_percent = 99}).ok());

  const std::pair<ThrottleOptions, const char*> cases[] = {
      {{.initial_percent = 0, .step_percent = 10, .max_percent = 90}, "--throttle-initial 0"},
      {{.initial_percent = 100, .step_percent = 10, .max_percent = 90}, "--throttle-initial 100"},
      {{.initial_percent = 20, .step_percent = 0, .max_percent = 90}, "--throttle-step 0"},
      {{.initial_percent = 20, .step_percent = 100, .max_percent = 90}, "--throttle-step 100"},
      {{.initial_percent = 20, .step_percent = 10, .max_percent = 0}, "--max-throttle 0"},
      {{.initial_percent = 20, .step_percent = 10, .max_percent = 100}, "--max-throttle 100"},
      {{.initial_percent = 60, .step_percent = 10, .max_percent = 50},
       "--throttle-initial 60 is above --max-throttle 50"},
  };
  for (const auto& [options, what] : cases) {
    Status s = CheckThrottleOptions(options);
    ASSERT_FALSE(s.ok()) << what;
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(what));
  }
}

}  // namespace
}  // namespace mkd::migrate
