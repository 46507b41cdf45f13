// Tests for the generation table encoding: round trips, compactness, and rejection of every kind
// of malformed input (docs/formats.md).
#include "genstore/table_codec.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <random>

namespace mkd {
namespace {

CodecHeader Header(std::string block = "ram", Epoch epoch = 3) {
  return CodecHeader{*Uuid::Parse("6f1c2a9e-0b1d-4c3e-9f00-123456789abc"), std::move(block), epoch,
                     0};
}

// Rewrites the trailing XXH3 so a test can reach the checks behind the checksum.
void Reseal(std::string* bytes) {
  uint64_t sum = XXH3_64bits(bytes->data(), bytes->size() - 8);
  std::memcpy(bytes->data() + bytes->size() - 8, &sum, 8);
}

// Offsets of the envelope fields (docs/formats.md).
constexpr size_t kVersionOffset = 4;
constexpr size_t kFlagsOffset = 6;
constexpr size_t kPagesOffset = 28;
constexpr size_t kNameLenOffset = 36;

TEST(TableCodecTest, RoundTripsTablesOfManyShapes) {
  std::mt19937_64 rng(1);
  for (uint64_t pages : {0u, 1u, 4095u, 4096u, 4097u, 100000u}) {
    std::vector<Generation> g(pages);
    for (uint64_t i = 0; i < pages; ++i)
      g[i] = (i / 100) % 3 == 0 ? 7 : static_cast<Generation>(rng());
    GenerationTable t = GenerationTable::FromGenerations(g);
    std::string bytes = EncodeTable(Header(), t);
    Result<DecodedTable> d = DecodeTable(bytes);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->table, t);
    EXPECT_EQ(d->header.pages, pages);
    EXPECT_EQ(d->header.block, "ram");
    EXPECT_EQ(d->header.epoch, 3u);
    EXPECT_EQ(d->header.vm, Header().vm);
  }
}

TEST(TableCodecTest, IntoVariantsReplaceContentAndReuseStorage) {
  GenerationTable big = GenerationTable::FromGenerations(std::vector<Generation>(10000, 4));
  GenerationTable small = GenerationTable::FromGenerations({1, 2, 3});
  ASSERT_TRUE(small.SetProvisional(0, 9).ok());
  std::string buffer = "stale bytes";
  DecodedTable decoded;
  for (const GenerationTable* t : {&big, &small, &big}) {
    EncodeTableTo(Header(), *t, &buffer);
    EXPECT_EQ(buffer, EncodeTable(Header(), *t));
    ASSERT_TRUE(DecodeTableInto(buffer, &decoded).ok());
    EXPECT_EQ(decoded.table.pages(), t->pages());
    EXPECT_TRUE(std::equal(decoded.table.generations().begin(), decoded.table.generations().end(),
                           t->generations().begin()));
    EXPECT_FALSE(decoded.table.has_provisional());
  }
}

TEST(TableCodecTest, MostlyEqualOneGibTableEncodesInAFewKib) {
  GenerationTable t(262144);  // 1 GiB VM
  PageBitmap dirty(262144);
  dirty.SetRange(0, 200000);
  ASSERT_TRUE(t.ApplyDirty(dirty, 1).ok());
  dirty.ClearAll();
  for (uint64_t p = 0; p < 262144; p += 997) dirty.SetRange(p, 10);  // 263 scattered runs
  ASSERT_TRUE(t.ApplyDirty(dirty, 2).ok());
  std::string bytes = EncodeTable(Header(), t);
  EXPECT_LT(bytes.size(), 8u * 1024) << "encoded size " << bytes.size();
  ASSERT_TRUE(DecodeTable(bytes).ok());
}

TEST(TableCodecTest, WorstCaseStaysWithinOnePercentOfRaw) {
  std::mt19937_64 rng(2);
  std::vector<Generation> g(262144);
  for (auto& x : g) x = static_cast<Generation>(rng());
  std::string bytes = EncodeTable(Header(), GenerationTable::FromGenerations(g));
  const double raw = 262144.0 * 4;
  EXPECT_LT(static_cast<double>(bytes.size()), raw * 1.01);
  // Alternating values: runs of length 1, the shape that would blow up a naive run encoding.
  for (size_t i = 0; i < g.size(); ++i) g[i] = static_cast<Generation>(i % 2);
  bytes = EncodeTable(Header(), GenerationTable::FromGenerations(g));
  EXPECT_LT(static_cast<double>(bytes.size()), raw * 1.01);
}

TEST(TableCodecTest, ProvisionalPagesEncodeAsInvalid) {
  GenerationTable t(4);
  ASSERT_TRUE(t.SetProvisional(2, 9).ok());
  Result<DecodedTable> d = DecodeTable(EncodeTable(Header(), t));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->table.Get(2), kGenInvalid);
  EXPECT_FALSE(d->table.has_provisional());
}

TEST(TableCodecTest, RejectsEveryTruncation) {
  std::string bytes = EncodeTable(Header(), GenerationTable::FromGenerations({1, 1, 2, 3, 0}));
  for (size_t n = 0; n < bytes.size(); ++n) {
    Result<DecodedTable> d = DecodeTable(std::string_view(bytes).substr(0, n));
    EXPECT_FALSE(d.ok()) << "accepted a prefix of " << n << " bytes";
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), ErrorCode::kCorrupt);
    }
  }
}

TEST(TableCodecTest, RejectsEverySingleBitFlip) {
  std::string good = EncodeTable(Header(), GenerationTable::FromGenerations({1, 1, 2, 3, 0}));
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_FALSE(DecodeTable(bad).ok()) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(TableCodecTest, RejectsTrailingBytesEvenWithAValidChecksum) {
  std::string bytes = EncodeTable(Header(), GenerationTable::FromGenerations({1, 2}));
  bytes.insert(bytes.size() - 8, "x");
  Reseal(&bytes);
  Result<DecodedTable> d = DecodeTable(bytes);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("unexpected bytes"), std::string::npos)
      << d.status().message();
}

TEST(TableCodecTest, RejectsUnknownVersionAndFlags) {
  std::string bytes = EncodeTable(Header(), GenerationTable::FromGenerations({1, 2}));
  std::string v2 = bytes;
  v2[kVersionOffset] = 2;
  Reseal(&v2);
  EXPECT_EQ(DecodeTable(v2).status().code(), ErrorCode::kUnsupported);
  std::string flagged = bytes;
  flagged[kFlagsOffset] = 1;
  Reseal(&flagged);
  EXPECT_EQ(DecodeTable(flagged).status().code(), ErrorCode::kUnsupported);
}

TEST(TableCodecTest, RejectsPageCountsAboveTheLimitOrBeyondTheBody) {
  std::string bytes = EncodeTable(Header(), GenerationTable::FromGenerations({1, 2}));
  std::string huge = bytes;
  uint64_t pages = kMaxPages + 1;
  std::memcpy(huge.data() + kPagesOffset, &pages, 8);
  Reseal(&huge);
  EXPECT_FALSE(DecodeTable(huge).ok());
  std::string more = bytes;  // claims 1 TiB with a 2-page body: rejected before allocating
  pages = kMaxPages;
  std::memcpy(more.data() + kPagesOffset, &pages, 8);
  Reseal(&more);
  Result<DecodedTable> d = DecodeTable(more);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("cannot hold"), std::string::npos) << d.status().message();
}

TEST(TableCodecTest, RejectsBadBlockNamesAndWrongMagic) {
  std::string bytes = EncodeTable(Header("ram"), GenerationTable::FromGenerations({1}));
  std::string slash = bytes;
  slash[kNameLenOffset + 1] = '/';
  Reseal(&slash);
  EXPECT_FALSE(DecodeTable(slash).ok());
  std::string magic = bytes;
  magic[3] = 'B';  // a bitmap is not a table
  Reseal(&magic);
  Result<DecodedTable> d = DecodeTable(magic);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("magic"), std::string::npos);
}

TEST(TableCodecTest, RejectsMalformedRunBlocks) {
  // One block of 4 pages in runs form: kind=1, runs=1, (len=4, value=7). Then break it.
  GenerationTable t = GenerationTable::FromGenerations({7, 7, 7, 7});
  std::string bytes = EncodeTable(Header(), t);
  const size_t body = bytes.size() - 8 - (1 + 2 + 2 + 4);
  ASSERT_EQ(static_cast<uint8_t>(bytes[body]), 1u) << "expected a runs block";
  auto with = [&](size_t offset, uint8_t value) {
    std::string b = bytes;
    b[body + offset] = static_cast<char>(value);
    Reseal(&b);
    return DecodeTable(b);
  };
  EXPECT_FALSE(with(0, 9).ok());  // unknown block kind
  EXPECT_FALSE(with(1, 0).ok());  // zero runs
  EXPECT_FALSE(with(1, 2).ok());  // more runs than bytes
  EXPECT_FALSE(with(3, 0).ok());  // run of length 0
  EXPECT_FALSE(with(3, 3).ok());  // runs cover 3 of 4 pages
  EXPECT_FALSE(with(3, 5).ok());  // run longer than the block
  EXPECT_TRUE(with(5, 8).ok());   // a different value is fine
}

}  // namespace
}  // namespace mkd
