// Tests of the post-copy values: round trips, THE wanted cap against the byte limit, refusals.
#include "memfs-protocol/postcopy_values.h"

#include <gtest/gtest.h>

#include <limits>

#include "genstore/generation.h"

namespace mkd::memfs_protocol {
namespace {

TEST(WantedTest, RoundTrips) {
  const Wanted w{"active", 12, {3, 4, 1000}};
  const std::string v = FormatWanted(w);
  EXPECT_EQ(v, R"({"state":"active","missing":12,"pages":[3,4,1000]})");
  Result<Wanted> back = ParseWanted(v, 1001);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, w);
  EXPECT_EQ(*ParseWanted(FormatWanted({"complete", 0, {}}), 1), (Wanted{"complete", 0, {}}));
}

// The worst case of every buffer a reader may offer: as many pages as WantedPagesFor allows, each
// the largest page number a block has, the longest state and missing count. It fits the buffer
// and kWantedValueMax, and the parser (with its one cap) takes it.
TEST(WantedTest, TheWorstCaseOfTheCapFitsTheLimit) {
  EXPECT_EQ(WantedPagesFor(kWantedMinBuffer - 1), 0u);
  EXPECT_EQ(WantedPagesFor(1 << 20), kWantedMaxPages);
  for (size_t buffer = kWantedMinBuffer; buffer <= kWantedValueMax + 100; ++buffer) {
    const size_t n = WantedPagesFor(buffer);
    ASSERT_LE(n, kWantedMaxPages);
    const Wanted w{"complete", std::numeric_limits<uint64_t>::max(),
                   std::vector<uint64_t>(n, kMaxPages - 1)};
    const std::string v = FormatWanted(w);
    ASSERT_LE(v.size(), std::min(buffer, kWantedValueMax)) << buffer;
    if (buffer == kWantedValueMax) {
      Result<Wanted> back = ParseWanted(v, kMaxPages);
      ASSERT_TRUE(back.ok()) << back.status().message();
      EXPECT_EQ(back->pages.size(), kWantedMaxPages);
    }
  }
}

TEST(WantedTest, RefusesMalformedValues) {
  const std::string too_many =
      FormatWanted({"active", 1, std::vector<uint64_t>(kWantedMaxPages + 1, 1)});
  for (const std::string& bad :
       {std::string(""), std::string("[]"), std::string(R"({"state":"active","missing":1})"),
        std::string(R"({"state":"done","missing":1,"pages":[]})"),
        std::string(R"({"state":"active","missing":-1,"pages":[]})"),
        std::string(R"({"state":"active","missing":1,"pages":[1.5]})"),
        std::string(R"({"state":"active","missing":1,"pages":[10]})"),  // not below 10
        std::string(R"({"state":"active","missing":1,"pages":[],"x":1})"), too_many,
        std::string(kWantedValueMax + 1, ' ')}) {
    Result<Wanted> w = ParseWanted(bad, 10);
    EXPECT_FALSE(w.ok()) << bad.substr(0, 80);
    if (!w.ok()) {
      EXPECT_EQ(w.status().code(), ErrorCode::kCorrupt);
    }
  }
}

PostcopyStats Sample() {
  PostcopyStats st;
  st.state = "failed";
  st.reason = "the source is gone";
  st.missing = 7;
  st.total = 100;
  st.fetched = 40;
  st.pushed = 50;
  st.skipped = 3;
  st.faults = 12;
  st.parked = 1;
  st.fault_median_ms = 1.25;
  st.fault_p99_ms = 9.5;
  st.fault_max_ms = 10.0;
  st.seconds = 3.0000001;
  return st;
}

TEST(PostcopyStatsTest, RoundTrips) {
  PostcopyStats st = Sample();
  Result<PostcopyStats> back = ParsePostcopyStats(FormatPostcopyStats(st));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, st);
  st.state = "active";
  st.reason.clear();
  const std::string v = FormatPostcopyStats(st);
  EXPECT_EQ(v.find("reason"), std::string::npos);
  back = ParsePostcopyStats(v);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, st);
}

TEST(PostcopyStatsTest, TheLongestReasonFitsTheLimit) {
  PostcopyStats st = Sample();
  st.reason = std::string(kMaxFailReason, '\x01');  // each byte escaped as \u0001
  for (uint64_t* c :
       {&st.missing, &st.total, &st.fetched, &st.pushed, &st.skipped, &st.faults, &st.parked}) {
    *c = std::numeric_limits<uint64_t>::max();
  }
  st.fault_median_ms = st.fault_p99_ms = st.fault_max_ms = st.seconds = 1.2345678901234567e300;
  const std::string v = FormatPostcopyStats(st);
  EXPECT_LE(v.size(), kPostcopyValueMax);
  EXPECT_TRUE(ParsePostcopyStats(v).ok());
}

TEST(PostcopyStatsTest, RefusesMalformedValues) {
  const std::string good = FormatPostcopyStats(Sample());
  auto edit = [&](const std::string& from, const std::string& to) {
    std::string v = good;
    const size_t at = v.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return v.replace(at, from.size(), to);
  };
  for (const std::string& bad :
       {std::string(""), std::string("[]"), edit("\"faults\":12", "\"faults\":-12"),
        edit("\"seconds\":3.0000001", "\"seconds\":-1"),
        edit("\"state\":\"failed\"", "\"state\":1"),
        edit("\"state\":\"failed\"", "\"state\":\"gone\""), edit("\"total\":100", "\"totals\":100"),
        edit("\"total\":100", "\"total\":100,\"extra\":1"),
        edit("\"reason\":\"the source is gone\"", "\"reason\":\"\""),
        std::string(kPostcopyValueMax + 1, ' ')}) {
    Result<PostcopyStats> st = ParsePostcopyStats(bad);
    EXPECT_FALSE(st.ok()) << bad;
    if (!st.ok()) {
      EXPECT_EQ(st.status().code(), ErrorCode::kCorrupt);
    }
  }
}

TEST(PostcopyFailTest, RoundTrips) {
  EXPECT_EQ(FormatPostcopyFail("link down"), R"({"fail":"link down"})");
  for (const std::string& reason :
       {std::string("link down"), std::string("said \"no\" \\ twice"), std::string(600, 'x'),
        std::string(kFailReasonKept, '"'), std::string("caf\xc3\xa9 \n\xff"), std::string()}) {
    const std::string v = FormatPostcopyFail(reason);
    EXPECT_LE(v.size(), kMaxFailValueSize);
    Result<std::string> back = ParsePostcopyFail(v);
    ASSERT_TRUE(back.ok()) << back.status().message() << " for " << v;
    if (reason.size() <= kFailReasonKept &&
        reason.find_first_of("\xc3\n\xff") == std::string::npos && !reason.empty()) {
      EXPECT_EQ(*back, reason);
    }
  }
  EXPECT_EQ(*ParsePostcopyFail(FormatPostcopyFail("caf\xc3\xa9\n")), "caf???");
  EXPECT_EQ(*ParsePostcopyFail(FormatPostcopyFail("")), "unknown");
  EXPECT_EQ(ParsePostcopyFail(FormatPostcopyFail(std::string(600, 'x')))->size(), kFailReasonKept);
}

TEST(PostcopyFailTest, RefusesMalformedValues) {
  for (const std::string& bad : {std::string(""), std::string("{}"), std::string(R"({"fail":""})"),
                                 std::string(R"({"fail":1})"), std::string(R"({"fail":"x","y":1})"),
                                 "{\"fail\":\"" + std::string(kMaxFailReason + 1, 'x') + "\"}",
                                 "{\"fail\":\"x\"}" + std::string(kMaxFailValueSize, ' ')}) {
    Result<std::string> r = ParsePostcopyFail(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(r.status().message().find("user.mkd.postcopy"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace mkd::memfs_protocol
