// Tests for ReceiveBatch: received pages gathered into memfs receive writes of at most 15 pages,
// every page written once, in order, with its generation; the same with the writes on a
// ReceiveWriter thread (depth 2), where Flush waits for them.
#include "migrate-tool/receive_batch.h"

#include <gtest/gtest.h>

#include <map>

#include "migrate-tool/incoming_fake_memfs.h"
#include "migrate-tool/page_codec.h"

namespace mkd::migrate {
namespace {

struct Written {
  std::vector<std::vector<memfs_protocol::LaterRun>> writes;
  std::map<uint64_t, std::pair<Generation, char>> pages;  // page -> generation, first byte
};

ReceiveBatch Recording(Written* w, size_t depth) {
  return ReceiveBatch(
      [w](const std::vector<memfs_protocol::LaterRun>& runs, std::string_view data) {
        size_t pages = 0;
        for (const memfs_protocol::LaterRun& r : runs) {
          for (uint32_t i = 0; i < r.count; ++i) {
            EXPECT_FALSE(w->pages.count(r.first + i)) << "page " << r.first + i << " written twice";
            w->pages[r.first + i] = {r.gen, data[(pages + i) * kPageSize]};
          }
          pages += r.count;
        }
        EXPECT_EQ(data.size(), pages * kPageSize);
        EXPECT_LE(pages, memfs_protocol::kMaxReceivePages);
        EXPECT_LE(runs.size(), memfs_protocol::kMaxReceivePages);
        // The writer's frame must be one memfs accepts.
        EXPECT_TRUE(
            memfs_protocol::ParseReceiveFrame(memfs_protocol::EncodeRunsFrame(runs, data)).ok());
        w->writes.push_back(runs);
        return Status::Ok();
      },
      depth);
}

std::string Pages(uint64_t count, char first_byte) {
  std::string s(count * kPageSize, '\0');
  for (uint64_t i = 0; i < count; ++i) s[i * kPageSize] = static_cast<char>(first_byte + i);
  return s;
}

class ReceiveBatchTest : public ::testing::TestWithParam<size_t> {};

TEST_P(ReceiveBatchTest, ScatteredPagesGoFifteenToAWrite) {
  Written w;
  ReceiveBatch b = Recording(&w, GetParam());
  for (uint64_t p = 0; p < 40; ++p) {
    ASSERT_TRUE(b.Add(p * 7, 1, 5, Pages(1, static_cast<char>(p))).ok());
  }
  EXPECT_EQ(b.writes(), 2u) << "two full writes, 10 pages still gathered";
  if (GetParam() == 0) {
    EXPECT_EQ(w.writes.size(), 2u) << "written at once without a writer thread";
  }
  ASSERT_TRUE(b.Flush().ok());
  EXPECT_EQ(w.writes.size(), 3u);
  EXPECT_EQ(b.writes(), 3u);
  ASSERT_EQ(w.pages.size(), 40u);
  for (uint64_t p = 0; p < 40; ++p) {
    EXPECT_EQ(w.pages[p * 7], std::make_pair(Generation{5}, static_cast<char>(p)));
  }
  ASSERT_TRUE(b.Flush().ok());
  EXPECT_EQ(b.writes(), 3u) << "an empty batch writes nothing";
}

TEST_P(ReceiveBatchTest, RunsAreJoinedAndSplitAtFifteenPages) {
  Written w;
  ReceiveBatch b = Recording(&w, GetParam());
  ASSERT_TRUE(b.Add(100, 4, 3, Pages(4, 'a')).ok());
  ASSERT_TRUE(b.Add(104, 20, 3, Pages(20, 'e')).ok());  // continues the run: joined
  ASSERT_TRUE(b.Add(124, 2, 4, Pages(2, 'z')).ok());    // adjacent, another generation
  ASSERT_TRUE(b.Flush().ok());
  ASSERT_EQ(w.writes.size(), 2u);
  ASSERT_EQ(w.writes[0].size(), 1u);
  EXPECT_EQ(w.writes[0][0], (memfs_protocol::LaterRun{100, 15, 3}));
  ASSERT_EQ(w.writes[1].size(), 2u);
  EXPECT_EQ(w.writes[1][0], (memfs_protocol::LaterRun{115, 9, 3}));
  EXPECT_EQ(w.writes[1][1], (memfs_protocol::LaterRun{124, 2, 4}));
  EXPECT_EQ(w.pages[103].second, 'a' + 3);
  EXPECT_EQ(w.pages[104].second, 'e');
  EXPECT_EQ(w.pages[125], std::make_pair(Generation{4}, static_cast<char>('z' + 1)));
}

TEST_P(ReceiveBatchTest, AWriteErrorIsReturned) {
  ReceiveBatch b([](const std::vector<memfs_protocol::LaterRun>&,
                    std::string_view) { return Status::Io("disk gone"); },
                 GetParam());
  EXPECT_TRUE(b.Add(0, 3, 1, Pages(3, 'a')).ok()) << "gathered, nothing written yet";
  EXPECT_EQ(b.Flush().code(), ErrorCode::kIo);
  EXPECT_EQ(b.Add(0, 15, 1, Pages(15, 'a')).code(), ErrorCode::kIo);
}

TEST_P(ReceiveBatchTest, ADiscardedBatchWritesNothingMore) {
  Written w;
  ReceiveBatch b = Recording(&w, GetParam());
  ASSERT_TRUE(b.Add(0, 15, 1, Pages(15, 'a')).ok());
  ASSERT_TRUE(b.Flush().ok());
  ASSERT_TRUE(b.Add(100, 3, 1, Pages(3, 'a')).ok());
  b.Discard();
  ASSERT_TRUE(b.Flush().ok());
  EXPECT_EQ(w.pages.size(), 15u) << "the 3 pages gathered before the discard are dropped";
}

TEST_P(ReceiveBatchTest, ACompressedFrameIsWrittenExpandedAndABadOneNotAtAll) {
  Written w;
  ReceiveBatch b = Recording(&w, GetParam());
  testing::FakeMemfs memfs;
  testing::FakeRam ram(memfs);
  const std::string content = Pages(3, 'k');
  PageCompressor c;
  std::string z;
  ASSERT_TRUE(c.Compress(content, &z));
  const std::vector<uint64_t> blocks = {1024};
  ASSERT_TRUE(
      ReceivePagesFrame(ram, b, FrameType::kPagesZ, EncodePagesHeader(0, 40, 3, 6) + z, blocks)
          .ok());
  // Compressed content that expands to two pages for a frame of three: refused, nothing written.
  std::string two;
  ASSERT_TRUE(c.Compress(Pages(2, 'q'), &two));
  const Status bad =
      ReceivePagesFrame(ram, b, FrameType::kPagesZ, EncodePagesHeader(0, 50, 3, 6) + two, blocks);
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument) << bad.ToString();
  ASSERT_TRUE(b.Flush().ok());
  ASSERT_EQ(w.pages.size(), 3u);
  EXPECT_EQ(w.pages[40], std::make_pair(Generation{6}, 'k'));
  EXPECT_EQ(w.pages[42], std::make_pair(Generation{6}, static_cast<char>('k' + 2)));
}

INSTANTIATE_TEST_SUITE_P(SyncAndWriterThread, ReceiveBatchTest, ::testing::Values(0, 2));

}  // namespace
}  // namespace mkd::migrate
