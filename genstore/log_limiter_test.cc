// LogLimiter: a flood costs at most per_second lines a second, and the next line says how many
// were left out.
#include "genstore/log_limiter.h"

#include <gtest/gtest.h>

namespace mkd {
namespace {

TEST(LogLimiterTest, AFloodCostsAtMostPerSecondLinesAndTheNextLineCountsTheRest) {
  LogLimiter limiter(3);
  const auto t0 = LogLimiter::Clock::time_point{} + std::chrono::hours(1);
  int logged = 0;
  for (int i = 0; i < 1000; ++i) {
    std::optional<uint64_t> left_out = limiter.Admit(t0 + std::chrono::microseconds(i));
    if (left_out) {
      EXPECT_EQ(*left_out, 0u);
      ++logged;
    }
  }
  EXPECT_EQ(logged, 3);
  std::optional<uint64_t> next = limiter.Admit(t0 + std::chrono::seconds(1));
  ASSERT_TRUE(next.has_value()) << "a new second logs again";
  EXPECT_EQ(*next, 997u);
  EXPECT_EQ(limiter.Admit(t0 + std::chrono::seconds(1)).value_or(99), 0u);
}

}  // namespace
}  // namespace mkd
