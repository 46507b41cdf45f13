// Tests for the incarnation metadata document: round trip and field-by-field validation.
#include "genstore/incarnation.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace mkd {
namespace {

IncarnationMeta Sample() {
  IncarnationMeta m;
  m.key = {*Uuid::Parse("6f1c2a9e-0b1d-4c3e-9f00-123456789abc"), "ram", 7};
  m.lineage = *Uuid::Parse("0d6f3c1b-7a2e-4f15-8b9c-a1b2c3d4e5f6");
  m.state = IncarnationState::kStored;
  m.epoch = 5;
  m.pages = 65536;
  m.host_id = "host-a";
  m.updated_unix_ms = 1795000000000;
  m.left_unix_ms = 1794999990000;
  m.serial = 42;
  return m;
}

TEST(IncarnationTest, RoundTrips) {
  for (IncarnationState s :
       {IncarnationState::kLive, IncarnationState::kIncoming, IncarnationState::kStored}) {
    IncarnationMeta m = Sample();
    m.state = s;
    Result<IncarnationMeta> d = DecodeIncarnationMeta(EncodeIncarnationMeta(m));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(*d, m);
  }
}

TEST(IncarnationTest, DocumentIsReadableJson) {
  nlohmann::json doc = nlohmann::json::parse(EncodeIncarnationMeta(Sample()));
  EXPECT_EQ(doc["vm"], "6f1c2a9e-0b1d-4c3e-9f00-123456789abc");
  EXPECT_EQ(doc["state"], "stored");
  EXPECT_EQ(doc["format"], "mkd-incarnation");
  EXPECT_EQ(doc["version"], 2);
  EXPECT_EQ(doc["lineage"], "0d6f3c1b-7a2e-4f15-8b9c-a1b2c3d4e5f6");
  EXPECT_EQ(doc["left_unix_ms"], 1794999990000);
}

TEST(IncarnationTest, NegativeTimesAreWrittenAsZero) {
  IncarnationMeta m = Sample();
  m.updated_unix_ms = -5;
  m.left_unix_ms = -1;
  Result<IncarnationMeta> d = DecodeIncarnationMeta(EncodeIncarnationMeta(m));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->updated_unix_ms, 0);
  EXPECT_EQ(d->left_unix_ms, 0);
}

TEST(IncarnationTest, Version1IsUnsupportedWithAMessageThatSaysWhatToDo) {
  nlohmann::json doc = nlohmann::json::parse(EncodeIncarnationMeta(Sample()));
  doc["version"] = 1;
  doc.erase("lineage");
  doc.erase("left_unix_ms");
  Result<IncarnationMeta> d = DecodeIncarnationMeta(doc.dump());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(d.status().message().find("version 1"), std::string::npos) << d.status().message();
  EXPECT_NE(d.status().message().find("lineage"), std::string::npos) << d.status().message();
  doc["version"] = 3;
  d = DecodeIncarnationMeta(doc.dump());
  EXPECT_EQ(d.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(d.status().message().find("upgrade"), std::string::npos) << d.status().message();
}

TEST(IncarnationTest, RejectsBadFields) {
  const std::string good = EncodeIncarnationMeta(Sample());
  auto with = [&](const char* field, nlohmann::json value) {
    nlohmann::json doc = nlohmann::json::parse(good);
    if (value.is_null())
      doc.erase(field);
    else
      doc[field] = value;
    return DecodeIncarnationMeta(doc.dump());
  };
  EXPECT_FALSE(with("vm", "not-a-uuid").ok());
  EXPECT_FALSE(with("vm", nullptr).ok());
  EXPECT_FALSE(with("lineage", nullptr).ok());
  EXPECT_FALSE(with("lineage", "not-a-uuid").ok());
  EXPECT_FALSE(with("lineage", 7).ok());
  EXPECT_FALSE(with("lineage", "00000000-0000-0000-0000-000000000000").ok());
  EXPECT_FALSE(with("left_unix_ms", nullptr).ok());
  EXPECT_FALSE(with("left_unix_ms", -1).ok());
  EXPECT_FALSE(with("left_unix_ms", uint64_t{INT64_MAX} + 1).ok());
  EXPECT_FALSE(with("left_unix_ms", "1795000000000").ok());
  EXPECT_FALSE(with("block", "../etc").ok());
  EXPECT_FALSE(with("block", 3).ok());
  EXPECT_FALSE(with("state", "flying").ok());
  EXPECT_FALSE(with("pages", kMaxPages + 1).ok());
  EXPECT_FALSE(with("pages", -1).ok());
  EXPECT_FALSE(with("pages", 1.5).ok());
  EXPECT_FALSE(with("epoch", uint64_t{kGenInvalid}).ok());
  EXPECT_FALSE(with("host_id", "").ok());
  EXPECT_FALSE(with("host_id", "a b").ok());
  EXPECT_FALSE(with("format", "other").ok());
  EXPECT_EQ(with("version", 1).status().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(with("version", 3).status().code(), ErrorCode::kUnsupported);
  EXPECT_FALSE(DecodeIncarnationMeta("{").ok());
  EXPECT_FALSE(DecodeIncarnationMeta("[]").ok());
  EXPECT_FALSE(DecodeIncarnationMeta(std::string(5000, ' ')).ok());
}

}  // namespace
}  // namespace mkd
