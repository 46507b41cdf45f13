// Tests of the user.mkd.* names and their helpers.
#include "memfs-protocol/names.h"

#include <gtest/gtest.h>

namespace mkd::memfs_protocol {
namespace {

TEST(NamesTest, EveryNameHasThePrefix) {
  for (std::string_view n :
       {kSummary, kTable, kDirty, kSynced, kReusable, kDigests, kSync, kTake, kPeerTable, kReceive,
        kWanted, kPostcopy, kArrive, kCommit, kAbort, kAdvance}) {
    EXPECT_EQ(n.substr(0, kPrefix.size()), kPrefix) << n;
  }
}

TEST(NamesTest, BuildsParameterisedNames) {
  EXPECT_EQ(ChunkName(kTable, 0), "user.mkd.table.0");
  EXPECT_EQ(ChunkName(kPeerTable, 12), "user.mkd.peer_table.12");
  EXPECT_EQ(SyncName(""), "user.mkd.sync");
  EXPECT_EQ(SyncName("mig-1"), "user.mkd.sync.mig-1");
  EXPECT_EQ(SyncedName("mig-1"), "user.mkd.synced.mig-1");
  EXPECT_EQ(SyncedName(""), "user.mkd.synced");
}

TEST(NamesTest, RecognisesSyncNames) {
  EXPECT_TRUE(IsSyncName("user.mkd.sync"));
  EXPECT_TRUE(IsSyncName("user.mkd.sync.a"));
  EXPECT_EQ(SyncConsumer("user.mkd.sync.abc"), "abc");
  EXPECT_EQ(SyncConsumer("user.mkd.sync"), "");
  EXPECT_FALSE(IsSyncName("user.mkd.sync."));
  EXPECT_FALSE(IsSyncName("user.mkd.synced"));
  EXPECT_FALSE(IsSyncName("user.mkd.syncx"));
  EXPECT_FALSE(IsSyncName("user.mkd.syn"));
  EXPECT_FALSE(IsTakeName("user.mkd.sync.a"));
}

TEST(NamesTest, RecognisesTakeNamesAsSyncsWithoutWriteBack) {
  EXPECT_EQ(TakeName(""), "user.mkd.take");
  EXPECT_EQ(TakeName("mig-1"), "user.mkd.take.mig-1");
  for (std::string_view name : {"user.mkd.take", "user.mkd.take.mig-1"}) {
    EXPECT_TRUE(IsSyncName(name)) << name;
    EXPECT_TRUE(IsTakeName(name)) << name;
  }
  EXPECT_EQ(SyncConsumer("user.mkd.take.mig-1"), "mig-1");
  EXPECT_EQ(SyncConsumer("user.mkd.take"), "");
  for (std::string_view bad : {"user.mkd.take.", "user.mkd.taken", "user.mkd.tak"}) {
    EXPECT_FALSE(IsTakeName(bad)) << bad;
    EXPECT_FALSE(IsSyncName(bad)) << bad;
  }
}

TEST(NamesTest, ParsesChunkIndexes) {
  EXPECT_EQ(ParseChunkIndex("0"), 0u);
  EXPECT_EQ(ParseChunkIndex("4294967295"), 4294967295u);
  for (std::string_view bad : {"", "-1", "+1", "1a", " 1", "4294967296", "0x1"}) {
    EXPECT_FALSE(ParseChunkIndex(bad)) << bad;
  }
}

TEST(NamesTest, ChunkDescriptionRoundTrips) {
  const std::string d = FormatChunkDescription(kTable, 3, 150000);
  EXPECT_EQ(d,
            "chunks=3 bytes=150000 (read user.mkd.table.0 .. user.mkd.table.2; join and decode "
            "with mkd-genstore decode)");
  EXPECT_EQ(ParseChunkDescription(d), 3u);
  for (std::string_view bad :
       {"", "chunks=", "chunks=0 bytes=1", "chunks=x bytes=1", "chunks=2", "bytes=1 chunks=2 "}) {
    EXPECT_FALSE(ParseChunkDescription(bad)) << bad;
  }
}

}  // namespace
}  // namespace mkd::memfs_protocol
