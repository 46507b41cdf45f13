// Tests for page digests: the digest function, the zero-page digest, the encoding's round trip,
// its exact layout, and rejection of every malformed input.
#include "genstore/digests.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstring>
#include <random>
#include <vector>

#include "genstore/generation.h"

namespace mkd {
namespace {

CodecHeader Header() {
  return CodecHeader{*Uuid::Parse("6f1c2a9e-0b1d-4c3e-9f00-123456789abc"), "ram-node0", 12, 0};
}

std::vector<uint64_t> RandomDigests(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> d(n);
  for (uint64_t& x : d) x = rng();
  return d;
}

// Replaces the checksum so that a deliberately edited encoding gets past the checksum test.
std::string Resealed(std::string bytes) {
  const uint64_t sum = XXH3_64bits(bytes.data(), bytes.size() - 8);
  std::memcpy(bytes.data() + bytes.size() - 8, &sum, 8);
  return bytes;
}

TEST(DigestsTest, PageDigestIsXxh3OfTheWholePage) {
  std::vector<char> page(kPageSize);
  for (size_t i = 0; i < page.size(); ++i) page[i] = static_cast<char>(i * 7);
  EXPECT_EQ(PageDigest(page.data()), XXH3_64bits(page.data(), kPageSize));
  const uint64_t before = PageDigest(page.data());
  page[kPageSize - 1] = static_cast<char>(page[kPageSize - 1] ^ 1);  // the last byte counts
  EXPECT_NE(PageDigest(page.data()), before);
}

TEST(DigestsTest, ZeroPageDigestIsTheDigestOfZeros) {
  const std::vector<char> zeros(kPageSize, 0);
  EXPECT_EQ(ZeroPageDigest(), PageDigest(zeros.data()));
  EXPECT_EQ(ZeroPageDigest(), XXH3_64bits(zeros.data(), kPageSize));
  EXPECT_EQ(ZeroPageDigest(), 0x93d76fe148c689bau);  // docs/formats.md, "Page digests"
}

TEST(DigestsTest, RoundTripsAtBlockBoundaries) {
  for (size_t pages : {0u, 1u, 4095u, 4096u, 4097u, 10000u}) {
    const std::vector<uint64_t> digests = RandomDigests(pages, pages);
    CodecHeader h;
    Result<std::vector<uint64_t>> d = DecodeDigests(EncodeDigests(Header(), digests), &h);
    ASSERT_TRUE(d.ok()) << pages << ": " << d.status().ToString();
    EXPECT_EQ(*d, digests);
    CodecHeader want = Header();
    want.pages = pages;
    EXPECT_EQ(h, want);
  }
}

TEST(DigestsTest, PageCountComesFromTheDigestsAndHeaderIsOptional) {
  CodecHeader h = Header();
  h.pages = 999;  // ignored by the encoder
  Result<std::vector<uint64_t>> d = DecodeDigests(EncodeDigests(h, RandomDigests(3, 1)));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->size(), 3u);
}

TEST(DigestsTest, LayoutIsTheEnvelopeAroundLittleEndianDigests) {
  const std::vector<uint64_t> digests = {0x0102030405060708u, ZeroPageDigest()};
  const std::string bytes = EncodeDigests(Header(), digests);
  const size_t header_size = 37 + std::string_view("ram-node0").size();
  ASSERT_EQ(bytes.size(), header_size + 16 + 8);
  EXPECT_EQ(bytes.substr(0, 4), "MKDD");
  EXPECT_EQ(static_cast<uint8_t>(bytes[header_size]), 0x08);  // least significant byte first
  uint64_t second = 0;
  std::memcpy(&second, bytes.data() + header_size + 8, 8);
  EXPECT_EQ(second, ZeroPageDigest());
}

TEST(DigestsTest, RejectsEveryTruncationAndAFlippedByte) {
  const std::string bytes = EncodeDigests(Header(), RandomDigests(5, 2));
  for (size_t n = 0; n < bytes.size(); ++n) {
    Result<std::vector<uint64_t>> d = DecodeDigests(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(d.ok()) << n;
    EXPECT_EQ(d.status().code(), ErrorCode::kCorrupt) << n;
  }
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = static_cast<char>(flipped[bytes.size() / 2] ^ 0x10);
  EXPECT_EQ(DecodeDigests(flipped).status().code(), ErrorCode::kCorrupt);
}

TEST(DigestsTest, RejectsABodyOfTheWrongLength) {
  const std::string bytes = EncodeDigests(Header(), RandomDigests(4, 3));
  const std::string body_end = bytes.substr(0, bytes.size() - 8);
  // One digest short, one byte short, one byte too many: each with a valid checksum.
  for (const std::string& edited :
       {Resealed(body_end.substr(0, body_end.size() - 8) + std::string(8, '\0')),
        Resealed(body_end.substr(0, body_end.size() - 1) + std::string(8, '\0')),
        Resealed(body_end + "x" + std::string(8, '\0'))}) {
    Result<std::vector<uint64_t>> d = DecodeDigests(edited);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), ErrorCode::kCorrupt);
    EXPECT_NE(d.status().message().find("expected"), std::string::npos) << d.status().message();
  }
}

TEST(DigestsTest, RejectsAHugePageCountWithoutAllocating) {
  std::string bytes = EncodeDigests(Header(), {});
  const uint64_t pages = kMaxPages;  // 2 GiB of digests announced, none present
  std::memcpy(bytes.data() + 28, &pages, 8);
  Result<std::vector<uint64_t>> d = DecodeDigests(Resealed(bytes));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), ErrorCode::kCorrupt);
}

TEST(DigestsTest, RejectsOtherMagicsAndVersions) {
  std::string bytes = EncodeDigests(Header(), RandomDigests(2, 4));
  std::string table_magic = bytes;
  table_magic[3] = 'T';
  EXPECT_EQ(DecodeDigests(Resealed(table_magic)).status().code(), ErrorCode::kCorrupt);
  std::string version_2 = bytes;
  version_2[4] = 2;
  EXPECT_EQ(DecodeDigests(Resealed(version_2)).status().code(), ErrorCode::kUnsupported);
}

TEST(DigestsTest, HeaderIsUntouchedOnError) {
  CodecHeader h = Header();
  EXPECT_FALSE(DecodeDigests("MKDD", &h).ok());
  EXPECT_EQ(h, Header());
}

}  // namespace
}  // namespace mkd
