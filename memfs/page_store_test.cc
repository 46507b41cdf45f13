// Tests of the PageStore contract, run against the real directory (DirPageStore) and the fake
// (FakePageStore), so that the fake the other tests use behaves as the directory does; and of
// the directory's layout, which docs/memfs.md and earlier daemons' stores depend on.
#include "memfs/page_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "memfs/fake_page_store.h"
#include "memfs/test_util.h"

namespace mkd::memfs {
namespace {

constexpr uint64_t kP = 4096;
const Uuid kVm = *Uuid::Parse("0b5c3bb0-6c2f-4d3e-9d7c-5a1e2f3a4b5c");

IncarnationKey Key(const std::string& block, uint64_t incarnation) {
  return IncarnationKey{kVm, block, incarnation};
}

std::vector<PageStoreEntry> Sorted(std::vector<PageStoreEntry> v) {
  std::sort(v.begin(), v.end(),
            [](const PageStoreEntry& a, const PageStoreEntry& b) { return a.name < b.name; });
  return v;
}

class PageStoreContractTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      store_ = std::make_unique<FakePageStore>();
    } else {
      store_ = std::make_unique<DirPageStore>(dir_.path());
    }
  }
  testing::TempDir dir_;
  std::unique_ptr<PageStore> store_;
};

TEST_P(PageStoreContractTest, ACreatedFileIsEmptyAndOpensAgainWithItsPages) {
  Result<PageFile> f = store_->Create(Key("ram", 1));
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->SizeBytes(), 0);
  ASSERT_EQ(f->Resize(4), 0);
  std::vector<char> page(kP, 'x');
  ASSERT_EQ(f->WritePages(2, 1, page.data()), 0);
  Result<PageFile> again = store_->Open(Key("ram", 1));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->SizeBytes(), static_cast<int64_t>(4 * kP));
  EXPECT_EQ(*again->ResidentPages(), 1u);
  // Creating it again empties it.
  Result<PageFile> fresh = store_->Create(Key("ram", 1));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(again->SizeBytes(), 0);
  EXPECT_FALSE(store_->Open(Key("ram", 2)).ok()) << "no such incarnation";
}

TEST_P(PageStoreContractTest, ARenamedFileKeepsItsDescriptorAndAnswersToItsNewName) {
  Result<PageFile> f = store_->Create(Key("ram", 1));
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->Resize(2), 0);
  ASSERT_TRUE(store_->Rename(*f, Key("ram", 2)).ok());
  EXPECT_FALSE(store_->Open(Key("ram", 1)).ok());
  Result<PageFile> renamed = store_->Open(Key("ram", 2));
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(renamed->SizeBytes(), static_cast<int64_t>(2 * kP));
  EXPECT_EQ(f->SizeBytes(), static_cast<int64_t>(2 * kP)) << "the descriptor stays valid";
  // Renamed twice: the file follows its latest name.
  ASSERT_TRUE(store_->Rename(*f, Key("ram", 3)).ok());
  EXPECT_EQ(Sorted(store_->List()), (std::vector<PageStoreEntry>{{kVm, "ram.3"}}));
}

TEST_P(PageStoreContractTest, RemoveTakesTheNameAndSaysNotFoundTheSecondTime) {
  Result<PageFile> f = store_->Create(Key("ram", 1));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(store_->Create(Key("ram-node1", 7)).ok());
  EXPECT_EQ(Sorted(store_->List()),
            (std::vector<PageStoreEntry>{{kVm, "ram-node1.7"}, {kVm, "ram.1"}}));
  ASSERT_TRUE(store_->Remove(*f).ok());
  EXPECT_EQ(store_->Remove(*f).code(), ErrorCode::kNotFound);
  ASSERT_TRUE(store_->Remove(PageStoreEntry{kVm, "ram-node1.7"}).ok());
  EXPECT_EQ(store_->Remove(PageStoreEntry{kVm, "ram-node1.7"}).code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store_->List().empty());
  EXPECT_EQ(f->ResidentPages().ok(), true) << "the descriptor outlives the name";
}

INSTANTIATE_TEST_SUITE_P(DirAndFake, PageStoreContractTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Fake" : "Dir";
                         });

TEST(DirPageStoreTest, FilesAreNamedVmSlashBlockDotIncarnation) {
  testing::TempDir dir;
  DirPageStore store(dir.path());
  Result<PageFile> f = store.Create(Key("ram", 12));
  ASSERT_TRUE(f.ok());
  const std::string path = dir.path() + "/" + kVm.ToString() + "/ram.12";
  EXPECT_EQ(f->path(), path);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir.path() + "/" + kVm.ToString()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(store.Describe(PageStoreEntry{kVm, "ram.12"}), path);
}

TEST(DirPageStoreTest, ListSkipsDotFilesAndDirectoriesNotNamedByAVm) {
  testing::TempDir dir;
  DirPageStore store(dir.path());
  ASSERT_TRUE(store.Create(Key("ram", 1)).ok());
  const std::string vm_dir = dir.path() + "/" + kVm.ToString();
  for (const std::string& p : {dir.path() + "/.mkd-memfs.lock", vm_dir + "/.hidden",
                               vm_dir + "/junk", dir.path() + "/not-a-vm/ram.1"}) {
    ::mkdir((dir.path() + "/not-a-vm").c_str(), 0700);
    const int fd = ::open(p.c_str(), O_CREAT | O_WRONLY, 0600);
    ASSERT_GE(fd, 0) << p;
    ::close(fd);
  }
  ASSERT_EQ(::mkdir((dir.path() + "/0B5C3BB0-6C2F-4D3E-9D7C-5A1E2F3A4B5C").c_str(), 0700), 0);
  EXPECT_EQ(Sorted(store.List()), (std::vector<PageStoreEntry>{{kVm, "junk"}, {kVm, "ram.1"}}));
}

TEST(PageStoreNamesTest, VmDirectoriesAreCanonicalLowerCaseUuids) {
  Uuid vm;
  EXPECT_TRUE(ParseVmDirName("0b5c3bb0-6c2f-4d3e-9d7c-5a1e2f3a4b5c", &vm));
  EXPECT_EQ(vm, kVm);
  EXPECT_FALSE(ParseVmDirName("0B5C3BB0-6C2F-4D3E-9D7C-5A1E2F3A4B5C", &vm));
  EXPECT_FALSE(ParseVmDirName("not-a-uuid", &vm));
  EXPECT_FALSE(ParseVmDirName("", &vm));
  EXPECT_EQ(PageFileName(Key("ram-node1", 3)), "ram-node1.3");
}

}  // namespace
}  // namespace mkd::memfs
