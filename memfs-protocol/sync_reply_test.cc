// Tests of the user.mkd.sync reply: round trips, the bound, refusals.
#include "memfs-protocol/sync_reply.h"

#include <gtest/gtest.h>

#include <limits>

namespace mkd::memfs_protocol {
namespace {

TEST(SyncReplyTest, RoundTrips) {
  for (const SyncReply& r :
       {SyncReply{12, 3, 7, std::nullopt}, SyncReply{0, 1, 1, true}, SyncReply{5, 2, 9, false}}) {
    Result<SyncReply> back = ParseSyncReply(FormatSyncReply(r));
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, r);
  }
  EXPECT_EQ(FormatSyncReply({12, 3, 7, false}), "dirty_pages=12 epoch=3 syncs=7 new=0");
}

TEST(SyncReplyTest, TheLongestReplyFitsTheBound) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  const std::string v = FormatSyncReply({kMax, kMaxEpoch, kMax, true});
  EXPECT_LE(v.size(), kSyncValueMax) << v;
  EXPECT_TRUE(ParseSyncReply(v).ok());
}

TEST(SyncReplyTest, RefusesMalformedReplies) {
  for (std::string_view bad :
       {"", "dirty_pages=1 epoch=2", "dirty_pages=1 epoch=2 syncs=3 new=2",
        "epoch=2 dirty_pages=1 syncs=3", "dirty_pages=1 epoch=2 syncs=3 old=1",
        "dirty_pages=1  epoch=2 syncs=3", "dirty_pages=-1 epoch=2 syncs=3",
        "dirty_pages=1 epoch=4294967295 syncs=3", "dirty_pages=1 epoch=2 syncs=3 new=1 x=1",
        "dirty_pages=1 epoch=2 syncs=3 "}) {
    Result<SyncReply> r = ParseSyncReply(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), ErrorCode::kCorrupt);
    }
  }
  EXPECT_FALSE(ParseSyncReply(std::string(kSyncValueMax + 1, '1')).ok());
}

}  // namespace
}  // namespace mkd::memfs_protocol
