// Tests for GenerationTable: the generation semantics of docs/architecture.md, page by page.
#include "genstore/generation_table.h"

#include <gtest/gtest.h>

namespace mkd {
namespace {

PageBitmap Dirty(uint64_t pages, std::initializer_list<uint64_t> set) {
  PageBitmap b(pages);
  for (uint64_t p : set) b.Set(p);
  return b;
}

TEST(GenerationTableTest, NewTableIsNeverWritten) {
  GenerationTable t(100);
  EXPECT_EQ(t.pages(), 100u);
  for (uint64_t p = 0; p < 100; ++p) EXPECT_EQ(t.Get(p), kGenNeverWritten);
}

TEST(GenerationTableTest, ApplyDirtySetsTheEpochOnDirtyPagesOnly) {
  GenerationTable t(10);
  ASSERT_TRUE(t.ApplyDirty(Dirty(10, {1, 2, 3}), 1).ok());
  ASSERT_TRUE(t.ApplyDirty(Dirty(10, {3, 4}), 2).ok());
  EXPECT_EQ(t.Get(0), 0u);
  EXPECT_EQ(t.Get(1), 1u);
  EXPECT_EQ(t.Get(3), 2u);
  EXPECT_EQ(t.Get(4), 2u);
  EXPECT_EQ(t.Get(5), 0u);
}

TEST(GenerationTableTest, ApplyDirtyRejectsBadEpochsAndSizes) {
  GenerationTable t(10);
  EXPECT_EQ(t.ApplyDirty(Dirty(10, {1}), 0).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(t.ApplyDirty(Dirty(10, {1}), kGenInvalid).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(t.ApplyDirty(Dirty(11, {1}), 1).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(t.Get(1), 0u);
}

TEST(GenerationTableTest, InvalidateMarksTheRangeInvalid) {
  GenerationTable t(10);
  ASSERT_TRUE(t.ApplyDirty(Dirty(10, {0, 1, 2, 3, 4, 5}), 3).ok());
  ASSERT_TRUE(t.Invalidate(2, 3).ok());
  EXPECT_EQ(t.Get(1), 3u);
  EXPECT_EQ(t.Get(2), kGenInvalid);
  EXPECT_EQ(t.Get(4), kGenInvalid);
  EXPECT_EQ(t.Get(5), 3u);
  EXPECT_EQ(t.Invalidate(8, 3).code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(t.Invalidate(11, 0).code(), ErrorCode::kOutOfRange);
  EXPECT_TRUE(t.Invalidate(10, 0).ok());
}

TEST(GenerationTableTest, ProvisionalPagesReadInvalidUntilCommit) {
  GenerationTable t(10);
  ASSERT_TRUE(t.ApplyDirty(Dirty(10, {1, 2}), 1).ok());
  ASSERT_TRUE(t.SetProvisional(2, 5).ok());
  ASSERT_TRUE(t.SetProvisional(7, 5).ok());
  EXPECT_EQ(t.provisional_count(), 2u);
  EXPECT_EQ(t.Get(2), kGenInvalid);
  EXPECT_EQ(t.Get(7), kGenInvalid);
  EXPECT_EQ(t.Get(1), 1u);
  t.CommitProvisional();
  EXPECT_FALSE(t.has_provisional());
  EXPECT_EQ(t.Get(2), 5u);
  EXPECT_EQ(t.Get(7), 5u);
  EXPECT_EQ(t.Get(1), 1u);
}

TEST(GenerationTableTest, SetProvisionalRejectsPagesOutside) {
  GenerationTable t(10);
  EXPECT_EQ(t.SetProvisional(10, 1).code(), ErrorCode::kOutOfRange);
  EXPECT_FALSE(t.has_provisional());
}

// docs/architecture.md, "Generations": a page sent in round 1 and rewritten later in the same
// epoch must never be reused after the migration aborts.
TEST(GenerationTableTest, AbortLeavesEveryProvisionalPageInvalid) {
  GenerationTable dest(8);
  ASSERT_TRUE(dest.ApplyDirty(Dirty(8, {0, 1, 2, 3}), 1).ok());  // stored incarnation, epoch 1
  // Round 1 of a migration from a source in epoch 4: pages 2 and 5 arrive with generation 4.
  ASSERT_TRUE(dest.SetProvisional(2, 4).ok());
  ASSERT_TRUE(dest.SetProvisional(5, 4).ok());
  // The source rewrites page 5 (still epoch 4) and the migration aborts before resending it.
  dest.AbortProvisional();
  EXPECT_FALSE(dest.has_provisional());
  EXPECT_EQ(dest.Get(2), kGenInvalid);
  EXPECT_EQ(dest.Get(5), kGenInvalid);
  EXPECT_EQ(dest.Get(0), 1u);  // untouched stored pages keep their generation
  EXPECT_EQ(dest.Get(3), 1u);
  // A later commit does not resurrect the aborted generations.
  dest.CommitProvisional();
  EXPECT_EQ(dest.Get(5), kGenInvalid);
}

TEST(GenerationTableTest, GuestWritesAreRefusedWhileProvisionalPagesPend) {
  GenerationTable t(4);
  ASSERT_TRUE(t.SetProvisional(1, 2).ok());
  EXPECT_EQ(t.ApplyDirty(Dirty(4, {0}), 3).code(), ErrorCode::kFailedPrecondition);
  t.CommitProvisional();
  EXPECT_TRUE(t.ApplyDirty(Dirty(4, {0}), 3).ok());
}

TEST(GenerationTableTest, InvalidateDropsPendingProvisionalGeneration) {
  GenerationTable t(4);
  ASSERT_TRUE(t.SetProvisional(1, 2).ok());
  ASSERT_TRUE(t.SetProvisional(2, 2).ok());
  ASSERT_TRUE(t.Invalidate(1, 1).ok());  // freed while incoming
  t.CommitProvisional();
  EXPECT_EQ(t.Get(1), kGenInvalid);
  EXPECT_EQ(t.Get(2), 2u);
}

TEST(GenerationTableTest, EqualityIncludesPendingState) {
  GenerationTable a(4), b(4);
  EXPECT_EQ(a, b);
  ASSERT_TRUE(a.SetProvisional(1, 2).ok());
  EXPECT_FALSE(a == b);
  ASSERT_TRUE(b.SetProvisional(1, 3).ok());
  EXPECT_FALSE(a == b);  // same visible gens, different pending ones
}

}  // namespace
}  // namespace mkd
