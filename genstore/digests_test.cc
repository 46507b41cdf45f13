// Tests for page digests: the digest function, the zero-page digest, the encoding's round trip,
// its exact layout, and rejection of every malformed input.
#include "genstore/digests.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstring>
#include <random>
#include <span>
#include <utility>
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

TEST(DigestsTest, LayoutIsTheEnvelopeAroundExtentsOfNonZeroDigests) {
  // Pages 0 and 1 have content, 2 is a hole, 3 has content: two extents.
  const std::vector<uint64_t> digests = {0x0102030405060708u, 7, ZeroPageDigest(), 9};
  const std::string bytes = EncodeDigests(Header(), digests);
  const size_t header_size = 37 + std::string_view("ram-node0").size();
  ASSERT_EQ(bytes.size(), header_size + (12 + 16) + (12 + 8) + 8);
  EXPECT_EQ(bytes.substr(0, 4), "MKDD");
  EXPECT_EQ(bytes[4], 2);  // version 2: sparse
  uint64_t first = 0;
  uint32_t count = 0;
  std::memcpy(&first, bytes.data() + header_size, 8);
  std::memcpy(&count, bytes.data() + header_size + 8, 4);
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(count, 2u);
  EXPECT_EQ(static_cast<uint8_t>(bytes[header_size + 12]), 0x08);  // least significant first
  std::memcpy(&first, bytes.data() + header_size + 28, 8);
  std::memcpy(&count, bytes.data() + header_size + 36, 4);
  EXPECT_EQ(first, 3u);
  EXPECT_EQ(count, 1u);
}

TEST(DigestsTest, AnEmptyTerabyteIsAFewBytes) {
  const PageDigests empty(kMaxPages);
  const std::string bytes = EncodeDigests(Header(), empty);
  EXPECT_EQ(bytes.size(), 37 + std::string_view("ram-node0").size() + 8);
  CodecHeader h;
  Result<PageDigests> d = DecodePageDigests(bytes, &h);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(h.pages, kMaxPages);
  EXPECT_EQ(d->stored(), 0u);
  EXPECT_EQ(d->Get(kMaxPages - 1), ZeroPageDigest());
  // The dense decoder refuses what the caller does not expect instead of allocating 2 GiB.
  EXPECT_EQ(DecodeDigests(bytes, nullptr, 1 << 20).status().code(), ErrorCode::kCorrupt);
}

TEST(DigestsTest, PageDigestsKeepOnlyNonZeroPagesInExtents) {
  PageDigests d(100);
  const uint64_t z = ZeroPageDigest();
  d.Append(0, std::vector<uint64_t>{z, 5, 6});
  d.Append(3, std::vector<uint64_t>{7});  // continues the extent of pages 1-2
  d.Append(10, std::vector<uint64_t>{8, z, 9});
  EXPECT_EQ(d.stored(), 5u);
  std::vector<std::pair<uint64_t, size_t>> extents;
  d.ForEachExtent(
      [&](uint64_t first, std::span<const uint64_t> x) { extents.emplace_back(first, x.size()); });
  EXPECT_EQ(extents, (std::vector<std::pair<uint64_t, size_t>>{{1, 3}, {10, 1}, {12, 1}}));
  EXPECT_EQ(d.Get(0), z);
  EXPECT_EQ(d.Get(1), 5u);
  EXPECT_EQ(d.Get(3), 7u);
  EXPECT_EQ(d.Get(4), z);
  EXPECT_EQ(d.Get(12), 9u);
  EXPECT_EQ(d.Get(99), z);
  std::vector<uint64_t> dense(100, z);
  dense[1] = 5, dense[2] = 6, dense[3] = 7, dense[10] = 8, dense[12] = 9;
  EXPECT_EQ(d.ToDense(), dense);
  EXPECT_EQ(PageDigests::FromDense(dense), d);
}

TEST(DigestsTest, Version1IsStillRead) {
  const std::vector<uint64_t> digests = {0x0102030405060708u, ZeroPageDigest(), 3};
  const std::string v1 = internal::EncodeDigestsV1(Header(), digests);
  const size_t header_size = 37 + std::string_view("ram-node0").size();
  ASSERT_EQ(v1.size(), header_size + 24 + 8);
  EXPECT_EQ(v1[4], 1);
  CodecHeader h;
  Result<std::vector<uint64_t>> d = DecodeDigests(v1, &h);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, digests);
  EXPECT_EQ(h.pages, 3u);
  Result<PageDigests> sparse = DecodePageDigests(v1);
  ASSERT_TRUE(sparse.ok());
  EXPECT_EQ(sparse->stored(), 2u);
}

TEST(DigestsTest, RejectsEveryTruncationAndAFlippedByte) {
  for (const std::string& bytes : {EncodeDigests(Header(), RandomDigests(5, 2)),
                                   internal::EncodeDigestsV1(Header(), RandomDigests(5, 2))}) {
    for (size_t n = 0; n < bytes.size(); ++n) {
      Result<std::vector<uint64_t>> d = DecodeDigests(std::string_view(bytes).substr(0, n));
      ASSERT_FALSE(d.ok()) << n;
      EXPECT_EQ(d.status().code(), ErrorCode::kCorrupt) << n;
    }
    std::string flipped = bytes;
    flipped[bytes.size() / 2] = static_cast<char>(flipped[bytes.size() / 2] ^ 0x10);
    EXPECT_EQ(DecodeDigests(flipped).status().code(), ErrorCode::kCorrupt);
  }
}

TEST(DigestsTest, RejectsAVersion1BodyOfTheWrongLength) {
  const std::string bytes = internal::EncodeDigestsV1(Header(), RandomDigests(4, 3));
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

// A version 2 encoding of `pages` pages with the given body (extents), resealed.
std::string Sparse(uint64_t pages, const std::string& body) {
  CodecHeader h = Header();
  std::string bytes = EncodeDigests(h, PageDigests(pages));
  bytes.insert(bytes.size() - 8, body);
  return Resealed(bytes);
}

std::string ExtentBytes(uint64_t first, uint32_t count, std::vector<uint64_t> digests) {
  std::string out(12 + 8 * digests.size(), '\0');
  std::memcpy(out.data(), &first, 8);
  std::memcpy(out.data() + 8, &count, 4);
  if (!digests.empty()) std::memcpy(out.data() + 12, digests.data(), 8 * digests.size());
  return out;
}

TEST(DigestsTest, RejectsMalformedExtents) {
  const uint64_t z = ZeroPageDigest();
  ASSERT_TRUE(DecodePageDigests(Sparse(10, ExtentBytes(2, 2, {5, 6}))).ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty extent", ExtentBytes(2, 0, {})},
      {"outside the block", ExtentBytes(9, 2, {5, 6})},
      {"outside the block (overflow)", ExtentBytes(~uint64_t{0}, 2, {5, 6})},
      {"fewer digests than announced", ExtentBytes(2, 3, {5, 6})},
      {"announces 2^32-1 digests", ExtentBytes(0, ~uint32_t{0}, {5})},
      {"a zero-page digest", ExtentBytes(2, 2, {5, z})},
      {"adjacent extents", ExtentBytes(2, 1, {5}) + ExtentBytes(3, 1, {6})},
      {"overlapping extents", ExtentBytes(2, 2, {5, 6}) + ExtentBytes(3, 1, {7})},
      {"out of order", ExtentBytes(5, 1, {5}) + ExtentBytes(1, 1, {6})},
      {"header truncated", ExtentBytes(2, 1, {5}) + "abc"},
  };
  for (const auto& [what, body] : cases) {
    Result<PageDigests> d = DecodePageDigests(Sparse(10, body));
    ASSERT_FALSE(d.ok()) << what;
    EXPECT_EQ(d.status().code(), ErrorCode::kCorrupt) << what << ": " << d.status().ToString();
  }
}

TEST(DigestsTest, RejectsAHugeVersion1PageCountWithoutAllocating) {
  std::string bytes = internal::EncodeDigestsV1(Header(), {});
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
  for (char version : {'\0', '\3'}) {
    std::string other = bytes;
    other[4] = version;
    EXPECT_EQ(DecodeDigests(Resealed(other)).status().code(), ErrorCode::kUnsupported);
  }
}

TEST(DigestsTest, HeaderIsUntouchedOnError) {
  CodecHeader h = Header();
  EXPECT_FALSE(DecodeDigests("MKDD", &h).ok());
  EXPECT_EQ(h, Header());
}

}  // namespace
}  // namespace mkd
