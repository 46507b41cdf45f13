// Tests of the restart: the pure decisions (which records are kept, which records and files are
// unusable, which files are strays) and RecoverStore applying them to a real Store (in a
// temporary directory) and a FakePageStore.
#include "memfs/recovery.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "memfs/fake_page_store.h"
#include "memfs/records.h"
#include "memfs/test_util.h"

namespace mkd::memfs {
namespace {

constexpr uint64_t kP = 4096;
const Uuid kVm = *Uuid::Parse("0b5c3bb0-6c2f-4d3e-9d7c-5a1e2f3a4b5c");
const Uuid kVm2 = *Uuid::Parse("1c6d4cc1-7d30-4e4f-8e8d-6b2f3a4b5c6d");

IncarnationMeta Meta(const Uuid& vm, const std::string& block, uint64_t inc,
                     IncarnationState state) {
  IncarnationMeta m;
  m.key = IncarnationKey{vm, block, inc};
  m.state = state;
  return m;
}

TEST(PlanRecoveryTest, KeepsTheNewestStoredIncarnationOfEachBlockAndDropsTheRest) {
  const RecoveryPlan plan = PlanRecovery({
      Meta(kVm, "ram", 3, IncarnationState::kStored),
      Meta(kVm, "ram", 1, IncarnationState::kStored),
      Meta(kVm, "ram", 5, IncarnationState::kStored),
      Meta(kVm, "ram", 6, IncarnationState::kLive),
      Meta(kVm2, "ram", 2, IncarnationState::kIncoming),
  });
  ASSERT_EQ(plan.keep.size(), 1u);
  EXPECT_EQ(plan.keep.at({kVm, "ram"}).key.incarnation, 5u);
  std::vector<uint64_t> superseded;
  for (const IncarnationMeta& m : plan.superseded) superseded.push_back(m.key.incarnation);
  std::sort(superseded.begin(), superseded.end());
  EXPECT_EQ(superseded, (std::vector<uint64_t>{1, 3}));
  ASSERT_EQ(plan.untrusted.size(), 2u) << "live and incoming when the daemon stopped";
  EXPECT_EQ(plan.last_incarnation.at({kVm, "ram"}), 6u) << "a dropped number is not reused";
  EXPECT_EQ(plan.last_incarnation.at({kVm2, "ram"}), 2u);
}

TEST(PlanRecoveryTest, ARecordNeedsDigestsOfEveryPageAndAFileOfTheTablesSize) {
  Incarnation inc;
  inc.table = GenerationTable(4);
  EXPECT_TRUE(CheckRecord(inc).has_value()) << "no digests";
  inc.digests = PageDigests(3);
  EXPECT_TRUE(CheckRecord(inc).has_value()) << "digests of another size";
  inc.digests = PageDigests(4);
  EXPECT_FALSE(CheckRecord(inc).has_value());
  EXPECT_FALSE(CheckFileSize(inc, 4 * kP).has_value());
  EXPECT_TRUE(CheckFileSize(inc, 3 * kP).has_value());
  EXPECT_TRUE(CheckFileSize(inc, -ENOENT).has_value());
}

TEST(PlanRecoveryTest, FilesNoKeptIncarnationNamesAreStrays) {
  const std::vector<PageStoreEntry> files = {
      {kVm, "ram.5"}, {kVm, "ram.3"}, {kVm, "junk"}, {kVm2, "ram.5"}};
  EXPECT_EQ(StrayFiles(files, {IncarnationKey{kVm, "ram", 5}}),
            (std::vector<PageStoreEntry>{{kVm, "ram.3"}, {kVm, "junk"}, {kVm2, "ram.5"}}));
  EXPECT_TRUE(StrayFiles({}, {}).empty());
}

class RecoverStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Store>> s = Store::Open(dir_.path() + "/db", "host-a");
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
  }
  // A block of `size` pages with `written` pages of 'x' that the VM left (stored), or that is
  // still live when the daemon "dies".
  IncarnationKey Make(const Uuid& vm, uint64_t inc, uint64_t size, uint64_t written, bool leave) {
    IncarnationMeta meta;
    meta.key = IncarnationKey{vm, "ram", inc};
    meta.state = IncarnationState::kLive;
    meta.epoch = kFirstEpoch;
    meta.lineage = Uuid::Random();
    meta.host_id = store_->host_id();
    Result<PageFile> file = pages_.Create(meta.key);
    EXPECT_TRUE(file.ok());
    Block block(meta, GenerationTable(0), std::move(*file));
    EXPECT_EQ(block.SetSize(size * kP), 0);
    std::vector<char> data(written * kP, 'x');
    EXPECT_EQ(block.Write(0, data.data(), data.size()), 0);
    if (leave) {
      EXPECT_TRUE(block.Leave(NowUnixMs()).ok());
      EXPECT_TRUE(StoreLeftBlock(*store_, block, meta.key).ok());
    } else {
      EXPECT_TRUE(PersistRecord(*store_, block).ok());
    }
    return meta.key;
  }
  static PageStoreEntry EntryOf(const IncarnationKey& key) {
    return PageStoreEntry{key.vm, PageFileName(key)};
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  FakePageStore pages_;
};

TEST_F(RecoverStoreTest, StoredIncarnationsComeBackAndLiveOnesGoWithTheirFiles) {
  const IncarnationKey stored = Make(kVm, 1, 8, 3, /*leave=*/true);
  const IncarnationKey live = Make(kVm2, 4, 8, 2, /*leave=*/false);
  pages_.AddFile(PageStoreEntry{kVm, "ram.0"}, kP);  // a crash left it
  Result<Recovered> r = RecoverStore(*store_, pages_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->blocks.size(), 1u);
  const std::shared_ptr<Block>& b = r->blocks[0];
  EXPECT_EQ(b->meta().key, stored);
  EXPECT_EQ(b->state(), IncarnationState::kStored);
  EXPECT_EQ(b->TableSnapshot().Get(2), kFirstEpoch);
  EXPECT_EQ(*b->ResidentPages(), 3u);
  EXPECT_EQ(r->last_incarnation.at({kVm2, "ram"}), 4u);
  EXPECT_EQ(pages_.List(), (std::vector<PageStoreEntry>{EntryOf(stored)}))
      << "the live one's file and the stray are gone";
  Result<std::vector<IncarnationMeta>> records = store_->List();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].key, stored);
  EXPECT_FALSE(pages_.Has(EntryOf(live)));
}

TEST_F(RecoverStoreTest, PagesThatNoLongerMatchTheirDigestsBecomeInvalidAndThatIsRecorded) {
  const IncarnationKey key = Make(kVm, 1, 8, 4, true);
  ASSERT_EQ(::pwrite(pages_.FdOf(EntryOf(key)), "!", 1, 2 * kP + 17), 1);
  Result<Recovered> r = RecoverStore(*store_, pages_);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->blocks.size(), 1u);
  EXPECT_EQ(r->blocks[0]->TableSnapshot().Get(2), kGenInvalid);
  EXPECT_EQ(r->blocks[0]->TableSnapshot().Get(1), kFirstEpoch);
  Result<Incarnation> inc = store_->Get(key);
  ASSERT_TRUE(inc.ok());
  EXPECT_EQ(inc->table.Get(2), kGenInvalid) << "persisted, so a second restart agrees";
}

TEST_F(RecoverStoreTest, AnIncarnationWhoseFileVanishedOrHasTheWrongSizeIsDropped) {
  const IncarnationKey vanished = Make(kVm, 1, 8, 4, true);
  const IncarnationKey shrunk = Make(kVm2, 1, 8, 4, true);
  pages_.Vanish(EntryOf(vanished));  // e.g. the host rebooted and the tmpfs is empty
  ASSERT_EQ(::ftruncate(pages_.FdOf(EntryOf(shrunk)), 4 * kP), 0);
  Result<Recovered> r = RecoverStore(*store_, pages_);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->blocks.empty());
  EXPECT_TRUE(store_->List()->empty());
  EXPECT_TRUE(pages_.List().empty());
}

TEST_F(RecoverStoreTest, AnOlderStoredIncarnationOfTheSameBlockIsDropped) {
  const IncarnationKey old_one = Make(kVm, 1, 4, 1, true);
  const IncarnationKey new_one = Make(kVm, 2, 4, 2, true);
  Result<Recovered> r = RecoverStore(*store_, pages_);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->blocks.size(), 1u);
  EXPECT_EQ(r->blocks[0]->meta().key, new_one);
  EXPECT_FALSE(pages_.Has(EntryOf(old_one)));
  EXPECT_EQ(store_->List()->size(), 1u);
}

}  // namespace
}  // namespace mkd::memfs
