// Tests of Registry against a real Store: lifecycle (create, leave, arrive, commit, abort, cold
// boot), refusal of a second writer, restart recovery with digest checks, and the budget, on a
// real page-store directory; and, with a FakePageStore, what the page store sees and what a
// failure of it does. The parts alone: inode_table_test, page_store_test, budget_test,
// reuse_rule_test, recovery_test.
#include "memfs/registry.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "memfs/fake_page_store.h"
#include "memfs/test_util.h"

namespace mkd::memfs {
namespace {

constexpr uint64_t kP = 4096;
constexpr char kVm[] = "0b5c3bb0-6c2f-4d3e-9d7c-5a1e2f3a4b5c";
constexpr char kVm2[] = "1c6d4cc1-7d30-4e4f-8e8d-6b2f3a4b5c6d";

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_dir_ = dir_.path() + "/pages";
    ASSERT_EQ(::mkdir(store_dir_.c_str(), 0700), 0);
    Reopen(UINT64_MAX);
  }
  void Reopen(uint64_t budget) {
    registry_.reset();
    store_.reset();
    Result<std::unique_ptr<Store>> s = Store::Open(dir_.path() + "/db", "host-a");
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
    RegistryOptions options;
    options.store_dir = store_dir_;
    options.budget_bytes = budget;
    registry_ = std::make_unique<Registry>(store_.get(), options);
    Status r = registry_->Recover();
    ASSERT_TRUE(r.ok()) << r.message();
  }
  Ino VmDir(const char* vm) {
    Entry e;
    if (registry_->Lookup(kRootIno, vm, &e) == 0) return e.ino;
    EXPECT_EQ(registry_->Mkdir(kRootIno, vm, &e), 0);
    return e.ino;
  }
  // Boots a VM cold: creates its RAM file, sizes it, writes `pages` pages of `fill`.
  Ino BootAndWrite(const char* vm, uint64_t size_pages, uint64_t pages, char fill) {
    Entry e;
    OpenResult o;
    EXPECT_EQ(registry_->Create(VmDir(vm), "ram", &e, &o), 0);
    EXPECT_EQ(registry_->SetSize(e.ino, size_pages * kP), 0);
    std::vector<char> data(pages * kP, fill);
    EXPECT_EQ(o.block->Write(0, data.data(), data.size()), 0);
    return e.ino;
  }
  Ino FileIno(const char* vm) {
    Entry e;
    EXPECT_EQ(registry_->Lookup(VmDir(vm), "ram", &e), 0);
    return e.ino;
  }

  testing::TempDir dir_;
  std::string store_dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryTest, VmDirectoriesAreNamedByUuid) {
  Entry e;
  EXPECT_EQ(registry_->Mkdir(kRootIno, "not-a-uuid", &e), -EINVAL);
  EXPECT_EQ(registry_->Mkdir(kRootIno, "0B5C3BB0-6C2F-4D3E-9D7C-5A1E2F3A4B5C", &e), -EINVAL);
  EXPECT_EQ(registry_->Mkdir(kRootIno, kVm, &e), 0);
  EXPECT_EQ(registry_->Mkdir(kRootIno, kVm, &e), -EEXIST);
  Entry f;
  OpenResult o;
  EXPECT_EQ(registry_->Create(e.ino, "bad/name", &f, &o), -EINVAL);
  EXPECT_EQ(registry_->Create(kRootIno, "ram", &f, &o), -EPERM);
}

TEST_F(RegistryTest, LeavingStoresTheIncarnationAndASecondWriterIsRefused) {
  Ino ino = BootAndWrite(kVm, 8, 3, 'x');
  OpenResult second;
  EXPECT_EQ(registry_->Open(ino, O_RDWR, &second), -EBUSY);
  OpenResult reader;
  EXPECT_EQ(registry_->Open(ino, O_RDONLY, &reader), 0);
  EXPECT_TRUE(reader.keep_cache);
  registry_->Release(ino, /*writer=*/true);
  std::shared_ptr<Block> b = registry_->FindBlock(ino);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->state(), IncarnationState::kStored);
  EXPECT_EQ(b->meta().epoch, kFirstEpoch);
  Result<std::vector<IncarnationMeta>> metas = store_->List();
  ASSERT_TRUE(metas.ok());
  ASSERT_EQ(metas->size(), 1u);
  EXPECT_EQ((*metas)[0].state, IncarnationState::kStored);
  Result<Incarnation> inc = store_->Get((*metas)[0].key);
  ASSERT_TRUE(inc.ok());
  ASSERT_TRUE(inc->digests.has_value());
  EXPECT_EQ(inc->digests->pages(), 8u);
  EXPECT_EQ(inc->table.Get(2), kFirstEpoch);
  EXPECT_EQ(inc->table.Get(3), kGenNeverWritten);
  OpenResult stored_reader;
  EXPECT_EQ(registry_->Open(ino, O_RDONLY, &stored_reader), 0);
  EXPECT_TRUE(stored_reader.direct_io);
  EXPECT_EQ(registry_->Unlink(VmDir(kVm), "ram"), 0) << "rm frees a stored incarnation";
  EXPECT_TRUE(store_->List()->empty());
}

TEST_F(RegistryTest, UnlinkOfALiveFileIsRefused) {
  BootAndWrite(kVm, 4, 1, 'x');
  EXPECT_EQ(registry_->Unlink(VmDir(kVm), "ram"), -EBUSY);
}

TEST_F(RegistryTest, ReturningVmStartsFromItsStoredIncarnation) {
  Ino ino = BootAndWrite(kVm, 8, 4, 'x');
  registry_->Release(ino, true);
  const IncarnationMeta left = registry_->FindBlock(ino)->meta();
  Uuid vm = *Uuid::Parse(kVm);
  ASSERT_TRUE(registry_->Arrive(vm, Arrival{3, left.lineage}).ok());
  OpenResult o;
  ASSERT_EQ(registry_->Open(ino, O_RDWR, &o), 0);
  EXPECT_EQ(o.block->state(), IncarnationState::kIncoming);
  EXPECT_EQ(o.block->meta().key.incarnation, left.key.incarnation + 1);
  EXPECT_EQ(o.block->TableSnapshot().Get(0), kFirstEpoch) << "the base table is kept";
  std::vector<char> page(kP, 'y');
  ASSERT_TRUE(o.block->ReceivePages(1, 1, page.data(), 2).ok());
  ASSERT_TRUE(registry_->Commit(vm).ok());
  EXPECT_EQ(o.block->state(), IncarnationState::kLive);
  EXPECT_EQ(o.block->meta().epoch, 3u);
  EXPECT_EQ(o.block->TableSnapshot().Get(1), 2u);
  Result<std::vector<IncarnationMeta>> metas = store_->List();
  ASSERT_EQ(metas->size(), 1u) << "the old record was replaced";
  EXPECT_EQ((*metas)[0].state, IncarnationState::kLive);
}

TEST_F(RegistryTest, AbortedArrivalLeavesReceivedPagesInvalid) {
  Ino ino = BootAndWrite(kVm, 8, 4, 'x');
  registry_->Release(ino, true);
  Uuid vm = *Uuid::Parse(kVm);
  const IncarnationMeta left = registry_->FindBlock(ino)->meta();
  ASSERT_TRUE(registry_->Arrive(vm, Arrival{3, left.lineage}).ok());
  OpenResult o;
  ASSERT_EQ(registry_->Open(ino, O_RDWR, &o), 0);
  std::vector<char> page(kP, 'y');
  ASSERT_TRUE(o.block->ReceivePages(0, 1, page.data(), 2).ok());
  ASSERT_TRUE(registry_->Abort(vm).ok());
  registry_->Release(ino, true);
  EXPECT_EQ(o.block->state(), IncarnationState::kStored);
  EXPECT_EQ(o.block->TableSnapshot().Get(0), kGenInvalid);
  EXPECT_EQ(o.block->TableSnapshot().Get(1), kFirstEpoch);
  EXPECT_FALSE(registry_->Commit(vm).ok()) << "nothing pending any more";
}

TEST_F(RegistryTest, OnlyAnIncomingFileIsReceivingAndItsCommitOrAbortDropsTheKernelsCache) {
  std::vector<Ino> dropped;
  registry_->SetCacheInvalidator([&](Ino i) { dropped.push_back(i); });
  auto receiving = [&](Ino i) {
    struct stat st {};
    bool r = true;
    EXPECT_EQ(registry_->GetAttr(i, &st, &r), 0);
    return r;
  };
  Ino ino = BootAndWrite(kVm, 8, 4, 'x');
  EXPECT_FALSE(receiving(ino)) << "live";
  EXPECT_FALSE(receiving(VmDir(kVm))) << "a directory";
  registry_->Release(ino, true);
  EXPECT_FALSE(receiving(ino)) << "stored";
  Uuid vm = *Uuid::Parse(kVm);
  const IncarnationMeta left = registry_->FindBlock(ino)->meta();
  for (bool commit : {false, true}) {
    SCOPED_TRACE(commit ? "commit" : "abort");
    ASSERT_TRUE(registry_->Arrive(vm, Arrival{commit ? 4u : 3u, left.lineage}).ok());
    EXPECT_FALSE(receiving(ino)) << "an arrival is pending, but the file is not open yet";
    OpenResult o;
    ASSERT_EQ(registry_->Open(ino, O_RDWR, &o), 0);
    EXPECT_TRUE(receiving(ino));
    dropped.clear();
    ASSERT_TRUE((commit ? registry_->Commit(vm) : registry_->Abort(vm)).ok());
    EXPECT_EQ(dropped, std::vector<Ino>{ino});
    EXPECT_FALSE(receiving(ino));
    if (!commit) registry_->Release(ino, true);
  }
}

TEST_F(RegistryTest, ArrivalIsRefusedWhileTheVmRunsHere) {
  BootAndWrite(kVm, 4, 1, 'x');
  EXPECT_EQ(registry_->Arrive(*Uuid::Parse(kVm), Arrival{2, Uuid::Random()}).code(),
            ErrorCode::kFailedPrecondition);
}

TEST_F(RegistryTest, ArrivalsOfTheSameLifeComeInLaterEpochsAndCommitNeedsAnIncomingBlock) {
  Ino ino = BootAndWrite(kVm, 8, 4, 'x');
  // The source of a migration reserves epoch 3 for itself (advance to e + 2) and leaves.
  ASSERT_TRUE(registry_->AdvanceEpoch(*Uuid::Parse(kVm), 3).ok());
  registry_->Release(ino, true);
  const IncarnationMeta left = registry_->FindBlock(ino)->meta();
  ASSERT_EQ(left.epoch, 3u);
  const Uuid vm = *Uuid::Parse(kVm);
  for (Epoch e : {Epoch{1}, Epoch{2}, kMaxEpoch - 1, kMaxEpoch}) {
    Status s = registry_->Arrive(vm, Arrival{e, left.lineage});
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << e;
  }
  EXPECT_FALSE(registry_->PendingArrival(vm).has_value());
  // Another life of the VM (another lineage) may come in any valid epoch: its memory is new.
  ASSERT_TRUE(registry_->Arrive(vm, Arrival{2, Uuid::Random()}).ok());
  // The VM returns from the destination that ran it in epoch 2: it arrives in 3, the epoch
  // reserved here but never written in.
  ASSERT_TRUE(registry_->Arrive(vm, Arrival{3, left.lineage}).ok());
  // Nothing opened the file: nothing is incoming, nothing to commit.
  Status c = registry_->Commit(vm);
  EXPECT_EQ(c.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(c.message().find("no RAM block is incoming"), std::string::npos) << c.message();
  EXPECT_TRUE(registry_->PendingArrival(vm).has_value()) << "still pending: abort it";
  EXPECT_TRUE(registry_->Abort(vm).ok());
}

TEST_F(RegistryTest, AnArrivalNeverComesInAnEpochAPageHereWasWrittenIn) {
  Ino ino = BootAndWrite(kVm, 8, 4, 'x');
  const Uuid vm = *Uuid::Parse(kVm);
  // A migration failed after the advance: the VM went on here in epoch 3 and wrote a page.
  ASSERT_TRUE(registry_->AdvanceEpoch(vm, 3).ok());
  std::vector<char> page(kP, 'z');
  ASSERT_EQ(registry_->FindBlock(ino)->Write(5 * kP, page.data(), kP), 0);
  registry_->Release(ino, true);
  const IncarnationMeta left = registry_->FindBlock(ino)->meta();
  ASSERT_EQ(left.epoch, 3u);
  Status s = registry_->Arrive(vm, Arrival{3, left.lineage});
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("generation up to 3"), std::string::npos) << s.message();
  EXPECT_TRUE(registry_->Arrive(vm, Arrival{4, left.lineage}).ok());
}

TEST_F(RegistryTest, ColdBootOverAStoredIncarnationStartsEmpty) {
  Ino ino = BootAndWrite(kVm, 8, 4, 'x');
  registry_->Release(ino, true);
  const Uuid old_lineage = registry_->FindBlock(ino)->meta().lineage;
  OpenResult o;
  ASSERT_EQ(registry_->Open(ino, O_RDWR, &o), 0);
  EXPECT_EQ(o.block->state(), IncarnationState::kLive);
  EXPECT_NE(o.block->meta().lineage, old_lineage);
  EXPECT_EQ(o.block->TableSnapshot().Get(0), kGenNeverWritten);
  EXPECT_EQ(*o.block->ResidentPages(), 0u);
}

TEST_F(RegistryTest, TheBlocksOfOneColdBootShareTheVmsLineage) {
  Ino ram = BootAndWrite(kVm, 4, 1, 'x');
  Entry e;
  OpenResult node1;
  ASSERT_EQ(registry_->Create(VmDir(kVm), "ram-node1", &e, &node1), 0);
  const Uuid lineage = registry_->FindBlock(ram)->meta().lineage;
  EXPECT_EQ(node1.block->meta().lineage, lineage);
  // Both leave; the VM returns with that lineage: both blocks reuse their stored incarnation.
  registry_->Release(ram, true);
  registry_->Release(e.ino, true);
  ASSERT_TRUE(registry_->Arrive(*Uuid::Parse(kVm), Arrival{2, lineage}).ok());
  OpenResult a, b;
  ASSERT_EQ(registry_->Open(ram, O_RDWR, &a), 0);
  ASSERT_EQ(registry_->Open(e.ino, O_RDWR, &b), 0);
  EXPECT_EQ(a.block->TableSnapshot().Get(0), kFirstEpoch);
  EXPECT_EQ(a.block->meta().key.incarnation, 2u);
  EXPECT_EQ(b.block->meta().key.incarnation, 2u);
  EXPECT_EQ(b.block->meta().lineage, lineage);
}

TEST_F(RegistryTest, RestartRecoversStoredIncarnationsAndDropsLiveOnes) {
  Ino a = BootAndWrite(kVm, 8, 4, 'x');
  registry_->Release(a, true);
  BootAndWrite(kVm2, 8, 2, 'z');  // still live when the "daemon dies"
  const IncarnationMeta before = registry_->FindBlock(a)->meta();
  Reopen(UINT64_MAX);
  std::shared_ptr<Block> b = registry_->FindBlock(FileIno(kVm));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->state(), IncarnationState::kStored);
  EXPECT_EQ(b->meta().key, before.key);
  EXPECT_EQ(b->TableSnapshot().Get(3), kFirstEpoch);
  Entry e;
  EXPECT_EQ(registry_->Lookup(kRootIno, kVm2, &e), -ENOENT) << "the live one is gone";
  EXPECT_EQ(store_->List()->size(), 1u);
}

TEST_F(RegistryTest, RestartInvalidatesPagesThatNoLongerMatchTheirDigests) {
  Ino a = BootAndWrite(kVm, 8, 4, 'x');
  registry_->Release(a, true);
  const std::string path = registry_->FindBlock(a)->file().path();
  registry_.reset();
  // Damage page 2 in the page store while the daemon is down.
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "!", 1, 2 * kP + 17), 1);
  ::close(fd);
  Reopen(UINT64_MAX);
  std::shared_ptr<Block> b = registry_->FindBlock(FileIno(kVm));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->TableSnapshot().Get(2), kGenInvalid);
  EXPECT_EQ(b->TableSnapshot().Get(1), kFirstEpoch);
  EXPECT_EQ(b->CheckRead(2 * kP, kP), -EIO);
}

TEST_F(RegistryTest, RestartDropsAnIncarnationWhosePageStoreVanished) {
  Ino a = BootAndWrite(kVm, 8, 4, 'x');
  registry_->Release(a, true);
  const std::string path = registry_->FindBlock(a)->file().path();
  registry_.reset();
  ASSERT_EQ(::unlink(path.c_str()), 0);  // e.g. the host rebooted and the tmpfs is empty
  Reopen(UINT64_MAX);
  Entry e;
  EXPECT_EQ(registry_->Lookup(kRootIno, kVm, &e), -ENOENT);
  EXPECT_TRUE(store_->List()->empty());
}

TEST_F(RegistryTest, BudgetEvictsTheLeastRecentlyLeftIncarnationFirstAndNeverALiveOne) {
  Reopen(6 * kP);
  Ino a = BootAndWrite(kVm, 8, 4, 'a');
  registry_->Release(a, true);
  ::usleep(2000);  // distinct leave times
  Ino b = BootAndWrite(kVm2, 8, 4, 'b');
  registry_->Release(b, true);  // 8 stored pages > 6: two must go, from kVm (left first)
  EXPECT_EQ(*registry_->FindBlock(a)->ResidentPages(), 2u);
  EXPECT_EQ(*registry_->FindBlock(b)->ResidentPages(), 4u);
  // A live VM's pages are not counted against, nor taken by, the budget.
  OpenResult o;
  ASSERT_EQ(registry_->Open(b, O_RDWR, &o), 0);  // cold boot of kVm2 again: live
  std::vector<char> data(8 * kP, 'c');
  ASSERT_EQ(o.block->Write(0, data.data(), data.size()), 0);
  registry_->EnforceBudget();
  EXPECT_EQ(*o.block->ResidentPages(), 8u);
  // The table persisted with the evicted pages invalid.
  Result<Incarnation> inc = store_->Get(registry_->FindBlock(a)->meta().key);
  ASSERT_TRUE(inc.ok());
  uint64_t invalid = 0;
  for (Generation g : inc->table.generations()) invalid += g == kGenInvalid;
  EXPECT_EQ(invalid, 2u);
}

// The Registry on a FakePageStore: which files the page store is asked for, and failures.
class RegistryOnFakePagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Store>> s = Store::Open(dir_.path() + "/db", "host-a");
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
    auto pages = std::make_unique<FakePageStore>();
    pages_ = pages.get();
    registry_ = std::make_unique<Registry>(store_.get(), std::move(pages), RegistryOptions{});
    ASSERT_TRUE(registry_->Recover().ok());
    Entry e;
    ASSERT_EQ(registry_->Mkdir(kRootIno, kVm, &e), 0);
    vm_dir_ = e.ino;
  }
  // Boots kVm cold, writes a page and leaves: a stored incarnation 1.
  Ino BootAndLeave() {
    Entry e;
    OpenResult o;
    EXPECT_EQ(registry_->Create(vm_dir_, "ram", &e, &o), 0);
    EXPECT_EQ(registry_->SetSize(e.ino, 4 * kP), 0);
    std::vector<char> page(kP, 'x');
    EXPECT_EQ(o.block->Write(0, page.data(), kP), 0);
    registry_->Release(e.ino, true);
    return e.ino;
  }
  std::string Path(const char* name) const { return std::string("fake:") + kVm + "/" + name; }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  FakePageStore* pages_ = nullptr;
  std::unique_ptr<Registry> registry_;
  Ino vm_dir_ = 0;
};

TEST_F(RegistryOnFakePagesTest, EachIncarnationGetsItsOwnFileAndRmRemovesIt) {
  const Ino ino = BootAndLeave();
  OpenResult o;
  ASSERT_EQ(registry_->Open(ino, O_RDWR, &o), 0);  // cold boot over the stored incarnation
  registry_->Release(ino, true);
  ASSERT_EQ(registry_->Unlink(vm_dir_, "ram"), 0);
  EXPECT_EQ(pages_->log(), (std::vector<std::string>{
                               "create " + Path("ram.1"),
                               "rename " + Path("ram.1") + " " + Path("ram.2"),
                               "remove " + Path("ram.2"),
                           }));
  EXPECT_TRUE(pages_->List().empty());
}

TEST_F(RegistryOnFakePagesTest, AFailedRenameFailsTheOpenAndKeepsTheStoredIncarnation) {
  const Ino ino = BootAndLeave();
  const IncarnationMeta before = registry_->FindBlock(ino)->meta();
  ASSERT_TRUE(registry_->Arrive(*Uuid::Parse(kVm), Arrival{2, before.lineage}).ok());
  pages_->FailNext(FakePageStore::Op::kRename);
  OpenResult o;
  EXPECT_EQ(registry_->Open(ino, O_RDWR, &o), -EIO);
  const IncarnationMeta after = registry_->FindBlock(ino)->meta();
  EXPECT_EQ(after.state, IncarnationState::kStored);
  EXPECT_EQ(after.key, before.key);
  Result<std::vector<IncarnationMeta>> records = store_->List();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].key, before.key);
  // The page store works again: the arrival reuses the stored incarnation.
  ASSERT_EQ(registry_->Open(ino, O_RDWR, &o), 0);
  EXPECT_EQ(o.block->state(), IncarnationState::kIncoming);
  EXPECT_EQ(o.block->TableSnapshot().Get(0), kFirstEpoch);
}

TEST_F(RegistryOnFakePagesTest, ACreateThePageStoreRefusesIsEioAndLeavesNoFile) {
  pages_->FailNext(FakePageStore::Op::kCreate);
  Entry e;
  OpenResult o;
  EXPECT_EQ(registry_->Create(vm_dir_, "ram", &e, &o), -EIO);
  EXPECT_EQ(registry_->Lookup(vm_dir_, "ram", &e), -ENOENT);
  EXPECT_TRUE(store_->List()->empty());
  EXPECT_EQ(registry_->Create(vm_dir_, "ram", &e, &o), 0) << "works once the store does";
}

TEST_F(RegistryOnFakePagesTest, ARemovedFileAlreadyGoneStillLetsRmSucceed) {
  BootAndLeave();
  pages_->Vanish(PageStoreEntry{*Uuid::Parse(kVm), "ram.1"});
  EXPECT_EQ(registry_->Unlink(vm_dir_, "ram"), 0);
  EXPECT_TRUE(store_->List()->empty());
}

}  // namespace
}  // namespace mkd::memfs
