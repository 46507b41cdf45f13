// Tests for the chunked form: every chunk fits an xattr, blobs survive the round trip, and
// missing, reordered, foreign or damaged chunks are refused.
#include "genstore/chunking.h"

#include <gtest/gtest.h>

#include <random>

namespace mkd {
namespace {

std::string RandomBlob(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(ChunkingTest, RoundTripsBlobsAroundChunkBoundaries) {
  for (size_t n : {size_t{0}, size_t{1}, kChunkPayload - 1, kChunkPayload, kChunkPayload + 1,
                   3 * kChunkPayload + 17}) {
    std::string blob = RandomBlob(n, n);
    std::vector<std::string> chunks = SplitIntoChunks(blob);
    EXPECT_EQ(chunks.size(), n == 0 ? 1 : (n + kChunkPayload - 1) / kChunkPayload);
    for (const auto& c : chunks) EXPECT_LE(c.size(), kMaxChunkSize);
    Result<std::string> joined = JoinChunks(chunks);
    ASSERT_TRUE(joined.ok()) << joined.status().ToString();
    EXPECT_EQ(*joined, blob);
  }
}

TEST(ChunkingTest, ParseChunkReportsPosition) {
  std::vector<std::string> chunks = SplitIntoChunks(RandomBlob(2 * kChunkPayload + 5, 1));
  Result<ChunkInfo> info = ParseChunk(chunks[2]);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->index, 2u);
  EXPECT_EQ(info->count, 3u);
  EXPECT_EQ(info->payload.size(), 5u);
  EXPECT_EQ(info->total_size, 2 * kChunkPayload + 5);
}

TEST(ChunkingTest, RefusesMissingExtraOrReorderedChunks) {
  std::vector<std::string> chunks = SplitIntoChunks(RandomBlob(2 * kChunkPayload + 5, 2));
  std::vector<std::string> missing = {chunks[0], chunks[1]};
  EXPECT_FALSE(JoinChunks(missing).ok());
  std::vector<std::string> swapped = {chunks[1], chunks[0], chunks[2]};
  EXPECT_FALSE(JoinChunks(swapped).ok());
  std::vector<std::string> extra = chunks;
  extra.push_back(chunks[2]);
  EXPECT_FALSE(JoinChunks(extra).ok());
  EXPECT_FALSE(JoinChunks({}).ok());
}

TEST(ChunkingTest, AHugeAnnouncedSizeWithMissingChunksIsRefusedBeforeAllocating) {
  // A full first chunk of a blob announcing kMaxChunks chunks, followed by empty strings: found by
  // fuzzing, this once made JoinChunks reserve ~4 GiB before looking at chunk 1.
  const std::string blob(kChunkPayload * 3, 'x');
  std::vector<std::string> chunks = SplitIntoChunks(blob);
  chunks.resize(3);
  chunks[1].clear();
  Result<std::string> joined = JoinChunks(chunks);
  ASSERT_FALSE(joined.ok());
  EXPECT_NE(joined.status().message().find("chunk of 0 bytes"), std::string::npos)
      << joined.status().message();
}

TEST(ChunkingTest, RefusesChunksOfTwoVersionsOfAnObject) {
  std::string a = RandomBlob(2 * kChunkPayload, 3);
  std::string b = a;
  b[kChunkPayload + 10] ^= 1;  // the object changed in its second chunk between two reads
  std::vector<std::string> ca = SplitIntoChunks(a);
  std::vector<std::string> cb = SplitIntoChunks(b);
  std::vector<std::string> mixed = {ca[0], cb[1]};
  Result<std::string> joined = JoinChunks(mixed);
  ASSERT_FALSE(joined.ok());
  EXPECT_NE(joined.status().message().find("another version"), std::string::npos);
}

TEST(ChunkingTest, RefusesDamagedChunks) {
  std::vector<std::string> chunks = SplitIntoChunks(RandomBlob(1000, 4));
  for (size_t i = 0; i < chunks[0].size(); i += 7) {
    std::string bad = chunks[0];
    bad[i] ^= 0x10;
    EXPECT_FALSE(ParseChunk(bad).ok()) << "flip at " << i;
  }
  EXPECT_FALSE(ParseChunk(chunks[0].substr(0, 43)).ok());
  EXPECT_FALSE(ParseChunk(std::string(kMaxChunkSize + 1, 'x')).ok());
}

}  // namespace
}  // namespace mkd
