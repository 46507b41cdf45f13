// Tests of InodeTable: numbers are never reused, a removed inode lives until the kernel forgets
// it, the root is never forgotten, and a forget beyond the lookups counts as all.
#include "memfs/inode_table.h"

#include <gtest/gtest.h>

namespace mkd::memfs {
namespace {

const Uuid kVm = *Uuid::Parse("0b5c3bb0-6c2f-4d3e-9d7c-5a1e2f3a4b5c");

TEST(InodeTableTest, StartsWithTheRootAndGivesOutGrowingNumbers) {
  InodeTable t;
  ASSERT_NE(t.Find(kRootIno), nullptr);
  EXPECT_EQ(t.Find(kRootIno)->ref.kind, NodeRef::Kind::kRoot);
  const Ino a = t.Add(NodeRef{NodeRef::Kind::kVm, kVm, ""});
  const Ino b = t.Add(NodeRef{NodeRef::Kind::kBlock, kVm, "ram"});
  EXPECT_GT(a, kRootIno);
  EXPECT_GT(b, a);
  EXPECT_EQ(t.Find(b)->ref.block, "ram");
  EXPECT_EQ(t.Find(b)->nlookup, 0u);
  EXPECT_EQ(t.Find(999), nullptr);
}

TEST(InodeTableTest, ARemovedInodeStaysUntilTheKernelForgetsIt) {
  InodeTable t;
  const Ino a = t.Add(NodeRef{NodeRef::Kind::kBlock, kVm, "ram"});
  t.Ref(a);
  t.Ref(a);
  EXPECT_FALSE(t.Forget(a, 1)) << "not removed: stays even with no reference";
  EXPECT_FALSE(t.Remove(a)) << "the kernel still holds one reference";
  ASSERT_NE(t.Find(a), nullptr);
  EXPECT_TRUE(t.Find(a)->removed);
  EXPECT_TRUE(t.Forget(a, 1)) << "removed and forgotten: gone";
  EXPECT_EQ(t.Find(a), nullptr);
  const Ino b = t.Add(NodeRef{NodeRef::Kind::kBlock, kVm, "ram"});
  EXPECT_GT(b, a) << "a number is never given out again";
}

TEST(InodeTableTest, ARemovedInodeNobodyLookedUpGoesAtOnce) {
  InodeTable t;
  const Ino a = t.Add(NodeRef{NodeRef::Kind::kVm, kVm, ""});
  EXPECT_TRUE(t.Remove(a));
  EXPECT_EQ(t.Find(a), nullptr);
}

TEST(InodeTableTest, ForgettingMoreThanWasLookedUpCountsAsAll) {
  InodeTable t;
  const Ino a = t.Add(NodeRef{NodeRef::Kind::kBlock, kVm, "ram"});
  t.Ref(a);
  EXPECT_FALSE(t.Remove(a));
  EXPECT_TRUE(t.Forget(a, 5));
  EXPECT_EQ(t.Find(a), nullptr);
}

TEST(InodeTableTest, TheRootIsNeverForgottenNorRemoved) {
  InodeTable t;
  EXPECT_FALSE(t.Forget(kRootIno, 1));
  EXPECT_FALSE(t.Remove(kRootIno));
  EXPECT_FALSE(t.Forget(kRootIno, 1));
  ASSERT_NE(t.Find(kRootIno), nullptr);
  EXPECT_FALSE(t.Find(kRootIno)->removed);
  EXPECT_FALSE(t.Forget(12345, 1)) << "an unknown inode is ignored";
}

}  // namespace
}  // namespace mkd::memfs
