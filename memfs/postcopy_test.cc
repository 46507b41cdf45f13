// Tests of Postcopy and of a Block after a post-copy commit: reads of missing pages wait and are
// answered only when all their pages arrived, a page the VM wrote meanwhile is never overwritten
// by a late arrival, wanted pages are handed out once, and a failed post-copy fails its reads and
// leaves the missing pages invalid.
#include "memfs/postcopy.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <thread>
#include <vector>

#include "memfs/block.h"
#include "memfs/test_util.h"

namespace mkd::memfs {
namespace {

constexpr uint64_t kP = 4096;

std::vector<char> Fill(uint64_t pages, char c) { return std::vector<char>(pages * kP, c); }

ParkedRead Read(uint64_t first, uint64_t last, int id) {
  ParkedRead r;
  r.token = reinterpret_cast<void*>(static_cast<uintptr_t>(id));
  r.first = first;
  r.last = last;
  r.offset = first * kP;
  r.size = (last - first + 1) * kP;
  r.since = PostcopyClock::now();
  return r;
}

PageBitmap Missing(uint64_t pages, std::initializer_list<uint64_t> set) {
  PageBitmap b(pages);
  for (uint64_t p : set) b.Set(p);
  return b;
}

class PostcopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<PageFile> f = PageFile::Open(dir_.path() + "/store", true);
    ASSERT_TRUE(f.ok());
    file_ = std::move(*f);
    ASSERT_EQ(file_.Resize(16), 0);
  }
  char PageByte(uint64_t page) {
    std::vector<char> buf(kP);
    EXPECT_EQ(file_.ReadPages(page, 1, buf.data()), 0);
    return buf[0];
  }
  testing::TempDir dir_;
  PageFile file_;
};

TEST_F(PostcopyTest, AReadWaitsUntilEveryPageItCoversArrived) {
  Postcopy pc(Missing(16, {3, 4, 9}), std::chrono::seconds(5));
  EXPECT_EQ(pc.ParkIfMissing(Read(0, 2, 1)), Postcopy::ReadCheck::kPresent);
  EXPECT_EQ(pc.ParkIfMissing(Read(2, 4, 2)), Postcopy::ReadCheck::kParked);
  Result<std::vector<ParkedRead>> done = pc.Receive(3, 1, Fill(1, 'c').data(), file_);
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->empty()) << "page 4 is still missing";
  done = pc.Receive(4, 1, Fill(1, 'd').data(), file_);
  ASSERT_TRUE(done.ok());
  ASSERT_EQ(done->size(), 1u);
  EXPECT_EQ((*done)[0].token, reinterpret_cast<void*>(2));
  EXPECT_EQ(PageByte(3), 'c');
  EXPECT_EQ(PageByte(4), 'd');
  const PostcopyStats st = pc.Stats();
  EXPECT_EQ(st.state, "active");
  EXPECT_EQ(st.missing, 1u);
  EXPECT_EQ(st.fetched, 2u) << "both were asked for by the read";
  EXPECT_EQ(st.faults, 1u);
}

TEST_F(PostcopyTest, ALatePageNeverOverwritesOneTheVmWroteOrOneThatArrived) {
  Postcopy pc(Missing(16, {5, 6, 7}), std::chrono::seconds(5));
  pc.Claim(5, 1);  // the VM wrote page 5 here
  ASSERT_TRUE(file_.WritePages(5, 1, Fill(1, 'v').data()) == 0);
  ASSERT_TRUE(pc.Receive(6, 1, Fill(1, 'a').data(), file_).ok());
  ASSERT_TRUE(pc.Receive(5, 3, Fill(3, 'z').data(), file_).ok());  // a push of 5..7
  EXPECT_EQ(PageByte(5), 'v') << "written here: the source's copy is older";
  EXPECT_EQ(PageByte(6), 'a') << "arrived before: a second copy is skipped";
  EXPECT_EQ(PageByte(7), 'z');
  const PostcopyStats st = pc.Stats();
  EXPECT_EQ(st.state, "complete");
  EXPECT_EQ(st.pushed, 2u);
  EXPECT_EQ(st.skipped, 2u);
}

TEST_F(PostcopyTest, ZerosFillMissingPagesAsHoles) {
  Postcopy pc(Missing(16, {2}), std::chrono::seconds(5));
  ASSERT_EQ(file_.WritePages(2, 1, Fill(1, 'o').data()), 0);  // old content of the base
  ASSERT_TRUE(pc.Receive(2, 1, nullptr, file_).ok());
  EXPECT_EQ(PageByte(2), 0);
  EXPECT_FALSE(pc.active());
}

TEST_F(PostcopyTest, WantedPagesAreHandedOutOnceInTheOrderReadsAsked) {
  Postcopy pc(Missing(16, {1, 2, 8, 9}), std::chrono::seconds(5));
  EXPECT_TRUE(pc.TakeWanted(10, std::chrono::milliseconds(1)).empty());
  ASSERT_EQ(pc.ParkIfMissing(Read(8, 9, 1)), Postcopy::ReadCheck::kParked);
  ASSERT_EQ(pc.ParkIfMissing(Read(1, 1, 2)), Postcopy::ReadCheck::kParked);
  ASSERT_EQ(pc.ParkIfMissing(Read(9, 9, 3)), Postcopy::ReadCheck::kParked);
  EXPECT_EQ(pc.TakeWanted(2, std::chrono::milliseconds(1)), (std::vector<uint64_t>{8, 9}));
  EXPECT_EQ(pc.TakeWanted(10, std::chrono::milliseconds(1)), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(pc.TakeWanted(10, std::chrono::milliseconds(1)).empty()) << "9 was handed out";
}

TEST_F(PostcopyTest, AWaitingDriverWakesUpWhenAReadParks) {
  Postcopy pc(Missing(16, {4}), std::chrono::seconds(5));
  std::vector<uint64_t> got;
  std::thread driver([&] { got = pc.TakeWanted(10, std::chrono::seconds(10)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(pc.ParkIfMissing(Read(4, 4, 1)), Postcopy::ReadCheck::kParked);
  driver.join();
  EXPECT_EQ(got, (std::vector<uint64_t>{4}));
}

TEST_F(PostcopyTest, FailureFailsParkedAndLaterReadsAndRefusesPages) {
  Postcopy pc(Missing(16, {3, 10}), std::chrono::seconds(5));
  ASSERT_EQ(pc.ParkIfMissing(Read(3, 3, 7)), Postcopy::ReadCheck::kParked);
  PageBitmap missing;
  std::vector<ParkedRead> parked = pc.Fail("source gone", &missing);
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0].token, reinterpret_cast<void*>(7));
  EXPECT_EQ(missing.Count(), 2u);
  EXPECT_EQ(pc.ParkIfMissing(Read(10, 10, 8)), Postcopy::ReadCheck::kFailed);
  EXPECT_EQ(pc.ParkIfMissing(Read(0, 1, 9)), Postcopy::ReadCheck::kPresent);
  EXPECT_EQ(pc.Receive(3, 1, Fill(1, 'x').data(), file_).status().code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(pc.Stats().state, "failed");
  EXPECT_EQ(pc.Stats().reason, "source gone");
  EXPECT_TRUE(pc.Fail("again", &missing).empty()) << "a second failure is a no-op";
}

TEST_F(PostcopyTest, TheLeaseExpiresWithoutPolls) {
  Postcopy pc(Missing(16, {3}), std::chrono::milliseconds(100));
  const auto now = PostcopyClock::now();
  EXPECT_FALSE(pc.LeaseExpired(now));
  EXPECT_TRUE(pc.LeaseExpired(now + std::chrono::milliseconds(200)));
  (void)pc.TakeWanted(1, std::chrono::milliseconds(0));
  EXPECT_FALSE(pc.LeaseExpired(PostcopyClock::now()));
  ASSERT_TRUE(pc.Receive(3, 1, Fill(1, 'x').data(), file_).ok());
  EXPECT_FALSE(pc.LeaseExpired(now + std::chrono::hours(1))) << "complete: no lease";
}

using BlockPostcopyTest = PostcopyTest;

TEST_F(BlockPostcopyTest, LaterPagesBecomeMissingAtTheCommitAndWritesClaimThem) {
  Result<PageFile> f = PageFile::Open(dir_.path() + "/b", true);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->Resize(8), 0);
  IncarnationMeta m;
  m.key = IncarnationKey{Uuid::Random(), "ram", 1};
  m.state = IncarnationState::kStored;
  m.epoch = 3;
  m.lineage = Uuid::Random();
  m.host_id = "h";
  Block b(m, GenerationTable(8), std::move(*f));
  ASSERT_TRUE(b.BeginIncoming(2, 4).ok());
  ASSERT_TRUE(b.ReceiveLater(2, 3, 3).ok());
  EXPECT_FALSE(b.ReceiveLater(2, 1, kGenNeverWritten).ok());
  ASSERT_TRUE(b.ReceivePages(4, 1, Fill(1, 'p').data(), 3).ok()) << "sent after all: present";
  EXPECT_EQ(b.postcopy(), nullptr);
  ASSERT_TRUE(b.Commit(4).ok());
  std::shared_ptr<Postcopy> pc = b.postcopy();
  ASSERT_NE(pc, nullptr);
  EXPECT_EQ(pc->Stats().missing, 2u);
  EXPECT_TRUE(pc->IsMissing(2) && pc->IsMissing(3) && !pc->IsMissing(4));
  EXPECT_EQ(b.TableSnapshot().Get(2), 3u) << "the generation the content will have";
  EXPECT_EQ(b.Write(2 * kP + 10, "x", 1), -EIO) << "a partial write needs the old content";
  ASSERT_EQ(b.Write(2 * kP, Fill(1, 'w').data(), kP), 0);
  EXPECT_FALSE(pc->IsMissing(2));
  std::vector<ParkedRead> parked;
  ASSERT_EQ(pc->ParkIfMissing(Read(3, 3, 5)), Postcopy::ReadCheck::kParked);
  parked = b.FailPostcopy("link down");
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(b.CheckRead(3 * kP, kP), -EIO) << "never arrived: reads fail";
  EXPECT_EQ(b.TableSnapshot().Get(3), kGenInvalid) << "and it is never reused";
  EXPECT_EQ(b.CheckRead(2 * kP, kP), static_cast<int64_t>(kP)) << "written here: fine";
}

}  // namespace
}  // namespace mkd::memfs
