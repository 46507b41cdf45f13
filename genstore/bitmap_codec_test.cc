// Tests for the page bitmap encoding: round trips, compactness and rejection of bad input.
#include "genstore/bitmap_codec.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstring>
#include <random>

namespace mkd {
namespace {

CodecHeader Header() { return CodecHeader{Uuid::Random(), "ram-node0", 12, 0}; }

TEST(BitmapCodecTest, RoundTripsBitmapsOfManyShapes) {
  std::mt19937_64 rng(3);
  for (uint64_t pages : {0u, 1u, 63u, 64u, 65u, 32768u, 32769u, 262144u}) {
    PageBitmap b(pages);
    for (uint64_t i = 0; i < pages / 10; ++i) b.Set(rng() % pages);
    if (pages > 100) b.SetRange(pages - 100, 100);
    CodecHeader h = Header();
    Result<DecodedBitmap> d = DecodeBitmap(EncodeBitmap(h, b));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->bitmap, b);
    h.pages = pages;
    EXPECT_EQ(d->header, h);
  }
}

TEST(BitmapCodecTest, EmptyAndFullOneGibBitmapsAreTiny) {
  PageBitmap b(262144);
  EXPECT_LT(EncodeBitmap(Header(), b).size(), 200u);
  b.SetRange(0, 262144);
  EXPECT_LT(EncodeBitmap(Header(), b).size(), 200u);
}

TEST(BitmapCodecTest, RejectsBitsPastThePageCount) {
  PageBitmap b(65);  // two words, 63 unused bits in the second
  b.Set(64);
  std::string bytes = EncodeBitmap(Header(), b);
  // The body is one raw block: kind, then two words. Set a bit past page 64 in the second word.
  const size_t second_word = bytes.size() - 8 - 8;
  bytes[second_word] = static_cast<char>(bytes[second_word] | 0x02);
  uint64_t sum = XXH3_64bits(bytes.data(), bytes.size() - 8);
  std::memcpy(bytes.data() + bytes.size() - 8, &sum, 8);
  Result<DecodedBitmap> d = DecodeBitmap(bytes);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("past"), std::string::npos) << d.status().message();
}

TEST(BitmapCodecTest, RejectsATableAndEveryTruncation) {
  PageBitmap b(100);
  b.SetRange(3, 50);
  std::string bytes = EncodeBitmap(Header(), b);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeBitmap(std::string_view(bytes).substr(0, n)).ok()) << n;
  }
  std::string table_magic = bytes;
  table_magic[3] = 'T';
  EXPECT_FALSE(DecodeBitmap(table_magic).ok());
}

}  // namespace
}  // namespace mkd
