// Tests for ContentOffers (content_offers.h): NEEDs matched to their OFFERs in order, NEEDs that
// ask for what was not offered refused, and offering stopping once it does not pay.
#include "migrate-tool/content_offers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

namespace mkd::migrate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ContentOffersTest, EachNeedAnswersTheOldestOfferAndTheRestWasTaken) {
  ContentOffers o(true);
  o.Offered({3, 4, 9});
  o.Offered({20, 21});
  EXPECT_TRUE(o.pending());
  EXPECT_EQ(o.pending_pages(), 5u);
  std::vector<uint64_t> taken;
  ASSERT_TRUE(o.Answer(3, {4}, "b", &taken).ok());
  EXPECT_EQ(o.pending_pages(), 2u);
  EXPECT_THAT(taken, ElementsAre(3, 9));
  ASSERT_TRUE(o.Answer(2, {20, 21}, "b", &taken).ok());
  EXPECT_THAT(taken, IsEmpty());
  EXPECT_FALSE(o.pending());
  EXPECT_EQ(o.pending_pages(), 0u);
  EXPECT_EQ(o.offered_pages(), 5u);
  EXPECT_EQ(o.taken_pages(), 2u);
  EXPECT_EQ(o.needed_pages(), 3u);
  EXPECT_EQ(o.offers(), 2u);
}

TEST(ContentOffersTest, ANeedForPagesNotOfferedOrOfAnotherSizeIsRefused) {
  std::vector<uint64_t> taken;
  ContentOffers none(true);
  Status s = none.Answer(1, {}, "host-b", &taken);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("NEED for no OFFER"));

  ContentOffers o(true);
  o.Offered({3, 4, 9});
  s = o.Answer(2, {}, "host-b", &taken);
  EXPECT_THAT(s.message(), HasSubstr("OFFER of 2 pages, but the oldest one had 3"));
  s = o.Answer(3, {5}, "host-b", &taken);  // between offered pages
  EXPECT_THAT(s.message(), HasSubstr("asked for page 5"));
  s = o.Answer(3, {2}, "host-b", &taken);  // before the first
  EXPECT_THAT(s.message(), HasSubstr("asked for page 2"));
  s = o.Answer(3, {9, 10}, "host-b", &taken);  // after the last
  EXPECT_THAT(s.message(), HasSubstr("asked for page 10"));
  // None of these consumed the offer.
  ASSERT_TRUE(o.Answer(3, {3, 4, 9}, "host-b", &taken).ok());
  EXPECT_THAT(taken, IsEmpty());
}

// Offers the 256 pages from k * 256 and answers them: the first `taken` taken, the rest needed.
void OfferAndAnswer(ContentOffers& o, uint64_t k, uint64_t taken) {
  std::vector<uint64_t> pages;
  for (uint64_t p = 0; p < 256; ++p) pages.push_back(k * 256 + p);
  o.Offered(pages);
  const std::vector<uint64_t> needed(pages.begin() + static_cast<ptrdiff_t>(taken), pages.end());
  std::vector<uint64_t> took;
  ASSERT_TRUE(o.Answer(256, needed, "b", &took).ok());
  EXPECT_EQ(took.size(), taken);
}

TEST(ContentOffersTest, OfferingStopsOnceFewerThanOneInThirtyTwoPagesWereTaken) {
  ContentOffers o(true);
  // 1,024 pages in 4 offers, 31 taken: just under 1 in 32.
  for (uint64_t k = 0; k < 4; ++k) {
    ASSERT_TRUE(o.offering());
    OfferAndAnswer(o, k, k == 0 ? 31 : 0);
  }
  EXPECT_FALSE(o.offering());
  EXPECT_THAT(o.stopped(), HasSubstr("took 31 of 1024"));
}

TEST(ContentOffersTest, OfferingGoesOnWhileOneInThirtyTwoIsTaken) {
  ContentOffers o(true);
  for (uint64_t k = 0; k < 8; ++k) OfferAndAnswer(o, k, 8);  // 8 of 256 taken: 1 in 32
  EXPECT_TRUE(o.offering());
  EXPECT_EQ(o.stopped(), "");
}

TEST(ContentOffersTest, AReturnHopWaitsForNeedsOnlyOnceTheProbeShowedOfferingPays) {
  ContentOffers first(true);
  EXPECT_TRUE(first.waits());  // a first hop always waits
  EXPECT_EQ(first.window(), ContentOffers::kWindowPages);
  EXPECT_EQ(first.keep(), ContentOffers::kWindowPages);
  ContentOffers back(true);
  back.DoNotWaitUntilProven();
  for (uint64_t k = 0; k < 4; ++k) {
    EXPECT_FALSE(back.waits()) << "offer " << k << ": the probe is not over";
    EXPECT_EQ(back.window(), ContentOffers::kBatchPages);
    EXPECT_EQ(back.keep(), std::numeric_limits<uint64_t>::max()) << "NEEDs read as they come";
    OfferAndAnswer(back, k, 8);  // 8 of 256 taken: 1 in 32
  }
  EXPECT_TRUE(back.proven());
  EXPECT_TRUE(back.waits());
  EXPECT_EQ(back.window(), ContentOffers::kWindowPages);
  EXPECT_EQ(back.keep(), ContentOffers::kWindowPages);
  EXPECT_TRUE(back.offering());
}

TEST(ContentOffersTest, DisabledNeverOffers) {
  ContentOffers o(false);
  EXPECT_FALSE(o.offering());
  EXPECT_FALSE(o.enabled());
  EXPECT_EQ(o.stopped(), "");
}

}  // namespace
}  // namespace mkd::migrate
