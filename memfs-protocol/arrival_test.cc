// Tests of the user.mkd.arrive and user.mkd.advance values: exact formats, round trips, strict
// parsers (every field checked).
#include "memfs-protocol/arrival.h"

#include <gtest/gtest.h>

namespace mkd::memfs_protocol {
namespace {

constexpr char kLineage[] = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

TEST(ArrivalTest, RoundTrips) {
  Arrival a{7, *Uuid::Parse(kLineage)};
  Result<Arrival> back = ParseArrival(FormatArrival(a));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->epoch, 7u);
  EXPECT_EQ(back->lineage, a.lineage);
}

TEST(ArrivalTest, FormatsWithoutSpaces) {
  // Byte-exact: mkd-migrate built this by hand before, and the VM summary embeds it.
  EXPECT_EQ(FormatArrival({7, *Uuid::Parse(kLineage)}),
            std::string("{\"epoch\":7,\"lineage\":\"") + kLineage + "\"}");
  EXPECT_EQ(FormatAdvance(9), "{\"epoch\":9}");
}

TEST(AdvanceTest, RoundTripsAndRefusesMalformedValues) {
  for (Epoch e : {Epoch{1}, Epoch{5}, kMaxEpoch}) {
    Result<Epoch> back = ParseAdvance(FormatAdvance(e));
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, e);
  }
  for (std::string_view bad : {"", "{}", "{\"epoch\":0}", "{\"epoch\":4294967295}",
                               "{\"epoch\":1,\"x\":1}", "{\"epoch\":\"1\"}", "[1]"}) {
    Result<Epoch> e = ParseAdvance(bad);
    EXPECT_FALSE(e.ok()) << bad;
    if (!e.ok()) {
      EXPECT_NE(e.status().message().find("user.mkd.advance"), std::string::npos);
    }
  }
}

TEST(ArrivalTest, RejectsMalformedValues) {
  const std::string lineage = std::string("\"") + kLineage + "\"";
  for (const std::string& bad : {
           std::string(""),
           std::string("{}"),
           std::string("[1,2]"),
           "{\"epoch\":0,\"lineage\":" + lineage + "}",           // epoch 0 is not an epoch
           "{\"epoch\":4294967295,\"lineage\":" + lineage + "}",  // the invalid generation
           "{\"epoch\":-1,\"lineage\":" + lineage + "}",
           "{\"epoch\":\"3\",\"lineage\":" + lineage + "}",
           std::string("{\"epoch\":3,\"lineage\":\"not-a-uuid\"}"),
           std::string("{\"epoch\":3,\"lineage\":\"00000000-0000-0000-0000-000000000000\"}"),
           "{\"epoch\":3,\"lineage\":" + lineage + ",\"extra\":1}",
           "{\"epoch\":3,\"lineage\":" + lineage + std::string(2000, ' ') + "}",
       }) {
    Result<Arrival> a = ParseArrival(bad);
    EXPECT_FALSE(a.ok()) << bad;
    if (!a.ok()) {
      EXPECT_NE(a.status().message().find("user.mkd.arrive"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace mkd::memfs_protocol
