// Tests of Block: dirty tracking and generations (live), provisional pages (incoming),
// read-only rules and eviction order (stored), punching, digests.
#include "memfs/block.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include "memfs/test_util.h"

namespace mkd::memfs {
namespace {

constexpr uint64_t kP = 4096;

class BlockTest : public ::testing::Test {
 protected:
  std::unique_ptr<Block> Make(uint64_t pages, IncarnationState state, Epoch epoch = 3) {
    Result<PageFile> f = PageFile::Open(dir_.path() + "/b" + std::to_string(n_++), true);
    EXPECT_TRUE(f.ok());
    IncarnationMeta m;
    m.key = IncarnationKey{Uuid::Random(), "ram", 1};
    m.state = state;
    m.epoch = epoch;
    m.lineage = Uuid::Random();
    m.host_id = "h";
    auto b = std::make_unique<Block>(m, GenerationTable(0), std::move(*f));
    EXPECT_EQ(b->SetSize(pages * kP), 0);
    return b;
  }
  static std::vector<char> Fill(uint64_t pages, char c) { return std::vector<char>(pages * kP, c); }

  testing::TempDir dir_;
  int n_ = 0;
};

TEST_F(BlockTest, LiveWritesAreDirtyAndTakeTheEpoch) {
  auto b = Make(8, IncarnationState::kLive, 3);
  ASSERT_EQ(b->Write(2 * kP, Fill(2, 7).data(), 2 * kP), 0);
  PageBitmap d = b->TakeDirtySinceSync();
  EXPECT_EQ(d.Count(), 2u);
  EXPECT_TRUE(d.Test(2) && d.Test(3));
  EXPECT_EQ(b->TakeDirtySinceSync().Count(), 0u) << "a sync resets the set";
  ASSERT_EQ(b->Write(5 * kP, Fill(1, 1).data(), kP), 0);
  EXPECT_EQ(b->TakeDirtySinceSync().Count(), 1u);
  EXPECT_EQ(b->dirty_since_arrival_count(), 3u);
  GenerationTable t = b->TableSnapshot();
  EXPECT_EQ(t.Get(2), 3u);
  EXPECT_EQ(t.Get(5), 3u);
  EXPECT_EQ(t.Get(0), kGenNeverWritten);
}

TEST_F(BlockTest, AdvanceEpochKeepsOldPagesAndTagsNewWritesWithTheNewEpoch) {
  auto b = Make(8, IncarnationState::kLive, 3);
  ASSERT_EQ(b->Write(1 * kP, Fill(1, 7).data(), kP), 0);  // not yet applied to the table
  ASSERT_TRUE(b->AdvanceEpoch(5).ok());
  ASSERT_EQ(b->Write(2 * kP, Fill(1, 8).data(), kP), 0);
  GenerationTable t = b->TableSnapshot();
  EXPECT_EQ(t.Get(1), 3u) << "written before the advance: the old epoch";
  EXPECT_EQ(t.Get(2), 5u);
  EXPECT_EQ(b->meta().epoch, 5u);
  EXPECT_FALSE(b->AdvanceEpoch(5).ok()) << "not after the current epoch";
  EXPECT_FALSE(b->AdvanceEpoch(kGenInvalid).ok());
  ASSERT_TRUE(b->Leave(1).ok());
  EXPECT_EQ(b->AdvanceEpoch(6).code(), ErrorCode::kFailedPrecondition) << "stored";
}

TEST_F(BlockTest, PartialPageWritesReadModifyWrite) {
  auto b = Make(4, IncarnationState::kLive);
  ASSERT_EQ(b->Write(kP, Fill(1, 'a').data(), kP), 0);
  ASSERT_EQ(b->Write(kP + 100, "xyz", 3), 0);
  ASSERT_EQ(b->Write(2 * kP - 1, "12", 2), 0);  // straddles pages 1 and 2
  std::vector<char> back(3 * kP);
  ASSERT_EQ(b->file().ReadPages(0, 3, back.data()), 0);
  EXPECT_EQ(back[kP + 99], 'a');
  EXPECT_EQ(std::string(back.data() + kP + 100, 3), "xyz");
  EXPECT_EQ(back[2 * kP - 1], '1');
  EXPECT_EQ(back[2 * kP], '2');
  EXPECT_EQ(back[2 * kP + 1], 0);
  EXPECT_EQ(b->TableSnapshot().Get(2), 3u);
}

TEST_F(BlockTest, BadWritesAndSizesAreRefused) {
  auto b = Make(4, IncarnationState::kLive);
  EXPECT_EQ(b->Write(4 * kP, Fill(1, 1).data(), kP), -EFBIG);
  EXPECT_EQ(b->Write(3 * kP, Fill(2, 1).data(), 2 * kP), -EFBIG);
  EXPECT_EQ(b->SetSize(4 * kP), 0) << "the same size again is fine";
  EXPECT_EQ(b->SetSize(8 * kP), -EPERM);
  auto fresh = Make(0, IncarnationState::kLive);
  EXPECT_EQ(fresh->SetSize(kP + 1), -EINVAL);
  EXPECT_EQ(fresh->SetSize((kMaxPages + 1) * kP), -EINVAL);
  EXPECT_EQ(b->CheckRead(3 * kP, 2 * kP), static_cast<int64_t>(kP)) << "reads are clipped";
  EXPECT_EQ(b->CheckRead(9 * kP, kP), 0);
}

TEST_F(BlockTest, IncomingRefusesKernelWritesAndCommitsProvisionalPages) {
  auto b = Make(4, IncarnationState::kIncoming);
  EXPECT_EQ(b->Write(0, Fill(1, 1).data(), kP), -EROFS);
  EXPECT_EQ(b->counters().refused_writes, 1u);
  ASSERT_TRUE(b->ReceivePages(1, 2, Fill(2, 4).data(), 2).ok());
  ASSERT_TRUE(b->ReceiveZero(3, 1).ok());
  EXPECT_EQ(b->TableSnapshot().Get(1), kGenInvalid) << "provisional pages read as invalid";
  EXPECT_FALSE(b->ReceivePages(3, 2, Fill(2, 4).data(), 2).ok()) << "past the end";
  ASSERT_TRUE(b->Commit(4).ok());
  GenerationTable t = b->TableSnapshot();
  EXPECT_EQ(t.Get(1), 2u);
  EXPECT_EQ(t.Get(3), kGenNeverWritten);
  EXPECT_EQ(b->state(), IncarnationState::kLive);
  ASSERT_EQ(b->Write(0, Fill(1, 1).data(), kP), 0);
  EXPECT_EQ(b->TableSnapshot().Get(0), 4u) << "live writes take the new epoch";
}

TEST_F(BlockTest, ReceivedZeroPagesAreHolesThatKeepTheirGeneration) {
  auto b = Make(8, IncarnationState::kIncoming, 6);
  ASSERT_TRUE(b->ReceivePages(0, 4, Fill(4, 6).data(), 2).ok());
  ASSERT_EQ(*b->ResidentPages(), 4u);
  // The VM wrote zeros to pages 1-2 in epoch 5; page 3 it never wrote.
  ASSERT_TRUE(b->ReceiveZero(1, 2, 5).ok());
  ASSERT_TRUE(b->ReceiveZero(3, 1).ok());
  EXPECT_EQ(*b->ResidentPages(), 1u) << "zero pages are holes";
  EXPECT_EQ(b->TableSnapshot().Get(1), kGenInvalid) << "provisional until commit";
  ASSERT_TRUE(b->Commit(6).ok());
  GenerationTable t = b->TableSnapshot();
  EXPECT_EQ(t.Get(0), 2u);
  EXPECT_EQ(t.Get(1), 5u);
  EXPECT_EQ(t.Get(2), 5u);
  EXPECT_EQ(t.Get(3), kGenNeverWritten);
  std::vector<char> back(4 * kP, 1);
  ASSERT_EQ(b->file().ReadPages(0, 4, back.data()), 0);
  EXPECT_EQ(back[0], 6);
  EXPECT_EQ(std::vector<char>(back.begin() + kP, back.end()), std::vector<char>(3 * kP, 0));
}

TEST_F(BlockTest, ReceiveRefusesPagesOutsideTheBlockAndOutsideIncoming) {
  auto b = Make(8, IncarnationState::kIncoming, 4);
  for (auto [first, count] :
       {std::pair<uint64_t, uint64_t>{8, 1}, {7, 2}, {9, 0}, {UINT64_MAX, 2}, {0, UINT64_MAX}}) {
    Status z = b->ReceiveZero(first, count, 3);
    EXPECT_EQ(z.code(), ErrorCode::kOutOfRange) << first << "+" << count;
    EXPECT_NE(z.message().find("outside the block of 8 pages"), std::string::npos) << z.message();
  }
  EXPECT_EQ(b->ReceivePages(7, 2, Fill(2, 1).data(), 3).code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(b->ReceiveZero(0, 1, kGenInvalid).code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(b->ReceiveZero(0, 8, 3).ok()) << "the whole block";
  std::vector<std::unique_ptr<Block>> others;
  others.push_back(Make(8, IncarnationState::kLive));
  others.push_back(Make(8, IncarnationState::kIncoming));
  ASSERT_TRUE(others.back()->Abort(1000).ok());  // stored
  for (const auto& other : others) {
    Status z = other->ReceiveZero(0, 1, 3);
    EXPECT_EQ(z.code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(z.message().find("not incoming"), std::string::npos) << z.message();
    EXPECT_EQ(other->ReceivePages(0, 1, Fill(1, 1).data(), 3).code(),
              ErrorCode::kFailedPrecondition);
  }
}

TEST_F(BlockTest, ReceivedGenerationsStayBelowTheArrivalsEpoch) {
  auto b = Make(8, IncarnationState::kIncoming, 5);
  for (Generation gen : {Generation{5}, Generation{6}, kGenInvalid}) {
    Status s = b->ReceivePages(0, 1, Fill(1, 1).data(), gen);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << gen;
    EXPECT_NE(s.message().find("not before the arrival's epoch 5"), std::string::npos)
        << s.message();
    EXPECT_EQ(b->ReceiveZero(0, 1, gen).code(), ErrorCode::kInvalidArgument) << gen;
    EXPECT_EQ(b->ReceiveLater(0, 1, gen).code(), ErrorCode::kInvalidArgument) << gen;
  }
  EXPECT_TRUE(b->ReceivePages(0, 1, Fill(1, 1).data(), 4).ok());
  // A returning VM: the bound is the new arrival's epoch, not the stored one.
  ASSERT_TRUE(b->Commit(5).ok());
  ASSERT_TRUE(b->Leave(1).ok());
  ASSERT_TRUE(b->BeginIncoming(2, 7).ok());
  EXPECT_TRUE(b->ReceivePages(1, 1, Fill(1, 1).data(), 6).ok());
  EXPECT_FALSE(b->ReceivePages(1, 1, Fill(1, 1).data(), 7).ok());
}

TEST_F(BlockTest, AdvanceMovesForwardInSmallStepsOnly) {
  auto b = Make(8, IncarnationState::kLive, 3);
  EXPECT_EQ(b->AdvanceEpoch(3).code(), ErrorCode::kInvalidArgument) << "not forward";
  EXPECT_EQ(b->AdvanceEpoch(2).code(), ErrorCode::kInvalidArgument) << "backward";
  EXPECT_EQ(b->AdvanceEpoch(3 + kMaxAdvanceStep + 1).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(b->AdvanceEpoch(kMaxEpoch).code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(b->AdvanceEpoch(3 + kMaxAdvanceStep).ok());
  EXPECT_EQ(b->meta().epoch, 3 + kMaxAdvanceStep);
  auto high = Make(8, IncarnationState::kLive, kMaxEpoch - kEpochHeadroom - 1);
  EXPECT_TRUE(high->AdvanceEpoch(kMaxEpoch - kEpochHeadroom).ok());
  EXPECT_EQ(high->AdvanceEpoch(kMaxEpoch - kEpochHeadroom + 1).code(), ErrorCode::kInvalidArgument)
      << "a VM must keep room for its next migrations";
}

TEST_F(BlockTest, AbortLeavesReceivedPagesInvalidAndUnreadable) {
  auto b = Make(4, IncarnationState::kIncoming);
  ASSERT_TRUE(b->ReceivePages(0, 2, Fill(2, 4).data(), 2).ok());
  ASSERT_TRUE(b->Abort(1000).ok());
  EXPECT_EQ(b->state(), IncarnationState::kStored);
  EXPECT_EQ(b->TableSnapshot().Get(0), kGenInvalid);
  EXPECT_EQ(b->CheckRead(0, kP), -EIO) << "a stored page that is not the VM's is not served";
  EXPECT_EQ(b->CheckRead(2 * kP, kP), static_cast<int64_t>(kP));
  EXPECT_EQ(b->Write(3 * kP, Fill(1, 1).data(), kP), -EROFS);
}

TEST_F(BlockTest, PunchInvalidatesWholePagesAndZeroesPartialOnes) {
  auto b = Make(4, IncarnationState::kLive);
  ASSERT_EQ(b->Write(0, Fill(4, 9).data(), 4 * kP), 0);
  (void)b->TakeDirtySinceSync();
  ASSERT_EQ(b->Punch(kP / 2, 2 * kP), 0);  // half of page 0, all of page 1, half of page 2
  GenerationTable t = b->TableSnapshot();
  EXPECT_EQ(t.Get(1), kGenInvalid);
  EXPECT_EQ(t.Get(0), 3u) << "a partially zeroed page is a write";
  std::vector<char> back(4 * kP);
  ASSERT_EQ(b->file().ReadPages(0, 4, back.data()), 0);
  EXPECT_EQ(back[kP / 2 - 1], 9);
  EXPECT_EQ(back[kP / 2], 0);
  EXPECT_EQ(back[2 * kP + kP / 2 - 1], 0);
  EXPECT_EQ(back[2 * kP + kP / 2], 9);
  EXPECT_EQ(*b->ResidentPages(), 3u);
  EXPECT_EQ(b->TakeDirtySinceSync().Count(), 3u);
}

TEST_F(BlockTest, EvictionFreesInvalidThenOldestGenerationsFirstAndInvalidatesThem) {
  auto b = Make(6, IncarnationState::kIncoming, 10);
  // Pages 0..4 with generations 5, 2, 9, 2, 7.
  const Generation gens[] = {5, 2, 9, 2, 7};
  for (uint64_t p = 0; p < 5; ++p) {
    ASSERT_TRUE(b->ReceivePages(p, 1, Fill(1, 1).data(), gens[p]).ok());
  }
  ASSERT_TRUE(b->Commit(9).ok());
  ASSERT_TRUE(b->Leave(1).ok());
  // Page 5: resident but invalid (received by a migration that aborted).
  ASSERT_TRUE(b->BeginIncoming(2, 11).ok());
  ASSERT_TRUE(b->ReceivePages(5, 1, Fill(1, 1).data(), 10).ok());
  ASSERT_TRUE(b->Abort(2).ok());
  EXPECT_EQ(*b->ResidentPages(), 6u);
  Result<uint64_t> n = b->EvictColdest(3);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, 3u);
  GenerationTable t = b->TableSnapshot();
  EXPECT_EQ(t.Get(5), kGenInvalid);
  EXPECT_EQ(t.Get(1), kGenInvalid);
  EXPECT_EQ(t.Get(3), kGenInvalid);
  EXPECT_EQ(t.Get(0), 5u) << "generation 5 is next, after the invalid page and the two 2s";
  EXPECT_EQ(t.Get(4), 7u);
  EXPECT_EQ(*b->ResidentPages(), 3u);
  EXPECT_EQ(b->CheckRead(kP, kP), -EIO) << "an evicted page is not served";
  EXPECT_EQ(b->CheckRead(0, kP), static_cast<int64_t>(kP));
}

TEST_F(BlockTest, LiveBlocksAreNeverEvicted) {
  auto b = Make(2, IncarnationState::kLive);
  ASSERT_EQ(b->Write(0, Fill(2, 1).data(), 2 * kP), 0);
  EXPECT_FALSE(b->EvictColdest(2).ok());
  EXPECT_EQ(*b->ResidentPages(), 2u);
}

TEST_F(BlockTest, DigestsCatchAPageChangedBehindOurBack) {
  auto b = Make(4, IncarnationState::kLive);
  ASSERT_EQ(b->Write(0, Fill(3, 5).data(), 3 * kP), 0);
  ASSERT_TRUE(b->Leave(1).ok());
  Result<PageDigests> d = b->ComputeDigests();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->stored(), 3u);
  EXPECT_EQ(*b->VerifyDigests(*d), 0u);
  ASSERT_EQ(b->file().PunchPages(1, 1), 0);  // e.g. the tmpfs lost it
  EXPECT_EQ(*b->VerifyDigests(*d), 1u);
  EXPECT_EQ(b->TableSnapshot().Get(1), kGenInvalid);
  EXPECT_EQ(b->TableSnapshot().Get(0), 3u);
  // A never-written page that has content now is caught too.
  const std::vector<char> junk = Fill(1, 9);
  ASSERT_EQ(b->file().WritePages(3, 1, junk.data()), 0);
  EXPECT_EQ(*b->VerifyDigests(*d), 1u);
  EXPECT_EQ(b->TableSnapshot().Get(3), kGenInvalid);
}

// ComputeDigests keeps its result until the page store changes through the PageFile: a write
// made behind its back (the raw descriptor, which nothing in memfs writes) is not seen, any
// counted change is.
TEST_F(BlockTest, DigestsAreKeptUntilThePageStoreChanges) {
  auto b = Make(4, IncarnationState::kLive);
  ASSERT_EQ(b->Write(0, Fill(3, 5).data(), 3 * kP), 0);
  ASSERT_TRUE(b->Leave(1).ok());
  Result<PageDigests> first = b->ComputeDigests();
  ASSERT_TRUE(first.ok());
  const std::vector<char> other = Fill(1, 8);
  ASSERT_EQ(::pwrite(b->file().fd(), other.data(), kP, 0), static_cast<ssize_t>(kP));
  Result<PageDigests> again = b->ComputeDigests();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Get(0), first->Get(0)) << "kept: no change went through the PageFile";
  ASSERT_EQ(b->file().PunchPages(2, 1), 0);
  Result<PageDigests> after = b->ComputeDigests();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->Get(0), PageDigest(other.data())) << "read again after a counted change";
  EXPECT_EQ(after->Get(2), ZeroPageDigest());
  EXPECT_EQ(after->Get(1), first->Get(1));
  // A write through the PageFile (as post-copy writes its pages) counts too.
  ASSERT_EQ(b->file().WritePages(1, 1, other.data()), 0);
  EXPECT_EQ(b->ComputeDigests()->Get(1), PageDigest(other.data()));
}

TEST_F(BlockTest, DigestsOfALargeEmptyBlockCostNothing) {
  // 64 GiB sized and never written, as QEMU leaves a RAM file it sized and exited: only the
  // resident pages are read, and only non-zero digests are kept.
  auto b = Make(0, IncarnationState::kLive);
  ASSERT_EQ(b->SetSize(uint64_t{64} << 30), 0);
  ASSERT_EQ(b->Write(5 * kP, Fill(2, 7).data(), 2 * kP), 0);
  ASSERT_TRUE(b->Leave(1).ok());
  const auto t0 = std::chrono::steady_clock::now();
  Result<PageDigests> d = b->ComputeDigests();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->pages(), uint64_t{64} << 18);
  EXPECT_EQ(d->stored(), 2u);
  EXPECT_EQ(d->Get(4), ZeroPageDigest());
  EXPECT_NE(d->Get(5), ZeroPageDigest());
  EXPECT_EQ(*b->VerifyDigests(*d), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST_F(BlockTest, ColdBootForgetsEverything) {
  auto b = Make(2, IncarnationState::kLive);
  ASSERT_EQ(b->Write(0, Fill(2, 1).data(), 2 * kP), 0);
  ASSERT_TRUE(b->Leave(1).ok());
  const Uuid lineage = Uuid::Random();
  ASSERT_TRUE(b->ResetForColdBoot(IncarnationKey{b->meta().key.vm, "ram", 9}, lineage).ok());
  EXPECT_EQ(b->state(), IncarnationState::kLive);
  EXPECT_EQ(b->meta().epoch, kFirstEpoch);
  EXPECT_EQ(b->meta().lineage, lineage);
  EXPECT_EQ(b->TableSnapshot().Get(0), kGenNeverWritten);
  EXPECT_EQ(*b->ResidentPages(), 0u);
}

}  // namespace
}  // namespace mkd::memfs
