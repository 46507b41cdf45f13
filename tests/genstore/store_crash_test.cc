// Crash test of the per-host store: a writer process updates records (metadata, table and, on
// every other write, page digests) in a tight loop and is killed with SIGKILL at random moments;
// after each kill the store is reopened and every record must be either fully old or fully new:
// its table and digests are exactly the ones derived from the serial in its metadata (no digests
// for odd serials: a Put without digests must drop the old ones), and serials never go backwards.
//
// The writer is this same binary started with --crash-writer DIR (fork+exec, so RocksDB's threads
// in the test process never leak into the child).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "genstore/digests.h"
#include "genstore/store.h"

namespace mkd {
namespace {

constexpr int kRecords = 4;
constexpr char kHost[] = "crash-host";
const Uuid kVm = *Uuid::Parse("5a4e1c00-0000-4000-8000-00000000c0de");

IncarnationKey KeyFor(int record) {
  return {kVm, record % 2 ? "ram" : "ram-node1", static_cast<uint64_t>(record)};
}

// The table a record holds at `serial`: its size and every generation depend on the serial, so a
// table of one write with the metadata of another is always visible.
GenerationTable TableFor(uint64_t serial) {
  const uint64_t pages = 20000 + (serial * 7919) % 40000;
  std::vector<Generation> gens(pages);
  const uint64_t cut = (serial * 104729) % pages;
  for (uint64_t p = 0; p < pages; ++p) {
    gens[p] = static_cast<Generation>(p < cut ? serial % 1000000 + 1 : (serial + p) % 7 + 1);
  }
  return GenerationTable::FromGenerations(std::move(gens));
}

// The digests a record holds at `serial`: one per page for even serials, none for odd ones.
std::vector<uint64_t> DigestsFor(uint64_t serial) {
  if (serial % 2 == 1) return {};
  std::vector<uint64_t> digests(TableFor(serial).pages());
  for (uint64_t p = 0; p < digests.size(); ++p) digests[p] = serial * 0x9e3779b97f4a7c15u + p;
  return digests;
}

IncarnationMeta MetaFor(int record, uint64_t serial) {
  IncarnationMeta m;
  m.key = KeyFor(record);
  m.lineage = *Uuid::Parse("1b9e0000-0000-4000-8000-00000000c0de");
  m.state = serial % 3 == 0 ? IncarnationState::kStored : IncarnationState::kLive;
  m.epoch = static_cast<Epoch>(serial % 1000 + 1);
  m.pages = TableFor(serial).pages();
  m.host_id = kHost;
  m.left_unix_ms = m.state == IncarnationState::kStored ? static_cast<int64_t>(serial) : 0;
  m.serial = serial;
  return m;
}

// The writer: continues from the serials already stored, forever, until killed.
int RunWriter(const std::string& dir) {
  Result<std::unique_ptr<Store>> store = Store::Open(dir, kHost);
  if (!store.ok()) {
    std::fprintf(stderr, "writer: %s\n", store.status().ToString().c_str());
    return 2;
  }
  uint64_t serial = 0;
  Result<std::vector<IncarnationMeta>> metas = (*store)->List();
  if (metas.ok()) {
    for (const auto& m : *metas) serial = std::max(serial, m.serial);
  }
  std::mt19937_64 rng(static_cast<uint64_t>(getpid()));
  for (;;) {
    int record = static_cast<int>(rng() % kRecords);
    ++serial;
    const std::vector<uint64_t> dense = DigestsFor(serial);
    const PageDigests digests = PageDigests::FromDense(dense);
    Status s = (*store)->Put(MetaFor(record, serial), TableFor(serial),
                             dense.empty() ? nullptr : &digests);
    if (!s.ok()) {
      std::fprintf(stderr, "writer: %s\n", s.ToString().c_str());
      return 3;
    }
  }
}

class StoreCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mkd-crash-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (child_ > 0) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  pid_t StartWriter() {
    pid_t pid = fork();
    if (pid == 0) {
      execl("/proc/self/exe", "store_crash_test", "--crash-writer", dir_.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    return pid;
  }

  std::string dir_;
  pid_t child_ = -1;
};

TEST_F(StoreCrashTest, EveryRecordIsFullyOldOrFullyNewAfterSigkill) {
  std::mt19937_64 rng(12345);
  std::map<int, uint64_t> last_serial;
  int kills = 0;
  uint64_t progress = 0;
  for (int round = 0; round < 25; ++round) {
    child_ = StartWriter();
    ASSERT_GT(child_, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 180));
    ASSERT_EQ(kill(child_, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child_, &status, 0), child_);
    child_ = -1;
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited by itself with status "
                                     << WEXITSTATUS(status) << " (see its stderr above)";
    ++kills;

    Result<std::unique_ptr<Store>> store = Store::Open(dir_, kHost);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    for (int record = 0; record < kRecords; ++record) {
      Result<Incarnation> inc = (*store)->Get(KeyFor(record));
      if (inc.status().code() == ErrorCode::kNotFound) {
        ASSERT_EQ(last_serial.count(record), 0u) << "record " << record << " vanished";
        continue;
      }
      ASSERT_TRUE(inc.ok()) << "round " << round << " record " << record << ": "
                            << inc.status().ToString();
      const uint64_t serial = inc->meta.serial;
      EXPECT_EQ(inc->meta, MetaFor(record, serial)) << "round " << round;
      EXPECT_TRUE(inc->table == TableFor(serial)) << "round " << round << " record " << record
                                                  << ": table is not the one of serial " << serial;
      const std::vector<uint64_t> want = DigestsFor(serial);
      EXPECT_TRUE(want.empty() ? !inc->digests.has_value()
                               : inc->digests.has_value() && inc->digests->ToDense() == want)
          << "round " << round << " record " << record << ": digests are not the ones of serial "
          << serial;
      EXPECT_GE(serial, last_serial[record]) << "a synced write was lost";
      progress += serial - last_serial[record];
      last_serial[record] = serial;
    }
  }
  EXPECT_EQ(kills, 25);
  // The writer really wrote between kills (otherwise the test proves nothing).
  EXPECT_GT(progress, 50u);
  std::printf("store crash test: %d kills, %llu record updates observed\n", kills,
              static_cast<unsigned long long>(progress));
}

}  // namespace
}  // namespace mkd

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--crash-writer") == 0) return mkd::RunWriter(argv[2]);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
