// Tests for HotPages: pages written in two rounds in a row wait for the pause, held pages that
// cooled off go with the next round, a hot set above the cap is sent as before, and every page
// a round's sync delivered is either sent in that round or held.
#include "migrate-tool/hot_pages.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <random>

namespace mkd::migrate {
namespace {

constexpr uint64_t kPages = 256;

PageBitmap Pages(std::initializer_list<uint64_t> pages) {
  PageBitmap b(kPages);
  for (uint64_t p : pages) b.Set(p);
  return b;
}

TEST(HotPagesTest, TheFirstRoundSendsEverything) {
  HotPages h(kPages);
  EXPECT_EQ(h.Round(Pages({1, 2, 3}), 100), Pages({1, 2, 3}));
  EXPECT_FALSE(h.held().Any());
}

TEST(HotPagesTest, ASeededFirstRoundHoldsWhatTheGuestWroteInBothIntervals) {
  HotPages h(kPages);
  h.Seed(Pages({1, 2, 7}));  // the first pass's write-back delivered these
  EXPECT_EQ(h.Round(Pages({2, 3, 7}), 100), Pages({3}));
  EXPECT_EQ(h.held(), Pages({2, 7}));
}

TEST(HotPagesTest, PagesWrittenInTwoRoundsInARowWaitForThePause) {
  HotPages h(kPages);
  h.Round(Pages({1, 2, 3}), 100);
  EXPECT_EQ(h.Round(Pages({2, 3, 4}), 100), Pages({4}));
  EXPECT_EQ(h.held(), Pages({2, 3}));
  // Still written: still held. Page 4 was written in two rounds in a row now.
  EXPECT_EQ(h.Round(Pages({2, 3, 4, 5}), 100), Pages({5}));
  EXPECT_EQ(h.held(), Pages({2, 3, 4}));
}

TEST(HotPagesTest, AHeldPageNotWrittenInTheNextRoundGoesWithIt) {
  HotPages h(kPages);
  h.Round(Pages({1, 2}), 100);
  h.Round(Pages({1, 2}), 100);
  EXPECT_EQ(h.held(), Pages({1, 2}));
  EXPECT_EQ(h.Round(Pages({2, 9}), 100), Pages({1, 9})) << "page 1 cooled off";
  EXPECT_EQ(h.held(), Pages({2}));
}

TEST(HotPagesTest, AHotSetAboveTheCapIsSentAsBefore) {
  HotPages h(kPages);
  h.Round(Pages({1, 2, 3}), 2);
  EXPECT_EQ(h.Round(Pages({1, 2, 3}), 2), Pages({1, 2, 3}));
  EXPECT_FALSE(h.held().Any());
  // Pages held under a larger cap go out as soon as the hot set outgrows the cap.
  h.Round(Pages({1, 2, 3}), 10);
  EXPECT_EQ(h.held(), Pages({1, 2, 3}));
  EXPECT_EQ(h.Round(Pages({1, 2, 3}), 2), Pages({1, 2, 3}));
  EXPECT_FALSE(h.held().Any());
}

// Whatever the rounds: a page delivered by a round's sync goes in that round, is held, or both
// never: and every held page was delivered (nothing is held that the guest did not write).
TEST(HotPagesTest, EveryDeliveredPageIsSentOrHeldAndOnlyDeliveredPagesAre) {
  std::mt19937_64 rng(7);
  for (int run = 0; run < 200; ++run) {
    HotPages h(kPages);
    PageBitmap owed(kPages);  // delivered, not sent yet
    for (int round = 0; round < 8; ++round) {
      PageBitmap dirty(kPages);
      for (int i = 0; i < 40; ++i) dirty.Set(rng() % 64);  // a small hot region
      owed.Or(dirty);
      const PageBitmap send = h.Round(dirty, rng() % 50);
      PageBitmap not_owed = send;
      not_owed.AndNot(owed);
      EXPECT_FALSE(not_owed.Any()) << "sent a page nobody delivered";
      PageBitmap both = send;
      both.And(h.held());
      EXPECT_FALSE(both.Any()) << "a page sent and held in one round";
      PageBitmap covered = send;
      covered.Or(h.held());
      EXPECT_EQ(covered, owed) << "a delivered page neither sent nor held";
      owed = h.held();
    }
  }
}

}  // namespace
}  // namespace mkd::migrate
