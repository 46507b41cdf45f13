// FakePageStore: a PageStore (page_store.h) in memory, for unit tests. Each file is a memfd (a
// tmpfs file with no name, so holes, SEEK_DATA and hole punching behave as on the real store);
// the fake keeps its own descriptor of every named file so that a test can look at or damage a
// file's content, make files vanish or appear, and make the next operation of a kind fail.
// Touches no directory. Not thread-safe (as the interface).
#ifndef MKD_MEMFS_FAKE_PAGE_STORE_H_
#define MKD_MEMFS_FAKE_PAGE_STORE_H_

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "memfs/page_store.h"

namespace mkd::memfs {

class FakePageStore : public PageStore {
 public:
  FakePageStore() = default;
  ~FakePageStore() override;
  FakePageStore(const FakePageStore&) = delete;
  FakePageStore& operator=(const FakePageStore&) = delete;

  Result<PageFile> Create(const IncarnationKey& key) override;
  Result<PageFile> Open(const IncarnationKey& key) override;
  Status Rename(PageFile& file, const IncarnationKey& key) override;
  Status Remove(PageFile& file) override;
  Status Remove(const PageStoreEntry& entry) override;
  std::vector<PageStoreEntry> List() const override;
  std::string Describe(const PageStoreEntry& entry) const override;

  // ---- For tests ----
  // Operations the next call of which fails with an Io error (once).
  enum class Op { kCreate, kOpen, kRename, kRemove };
  void FailNext(Op op) { fail_next_.insert(op); }
  // Whether a file of that name exists; its descriptor (owned by the fake), or -1.
  bool Has(const PageStoreEntry& entry) const { return files_.count(IdOf(entry)) > 0; }
  int FdOf(const PageStoreEntry& entry) const;
  // A file no incarnation made (e.g. left over by a crash), `bytes` long.
  void AddFile(const PageStoreEntry& entry, uint64_t bytes);
  // The file disappears (e.g. the tmpfs was emptied); open descriptors stay valid.
  void Vanish(const PageStoreEntry& entry) { (void)Remove(entry); }
  // Names of every operation done, in order, e.g. "create <vm>/ram.1" (what tests assert on).
  const std::vector<std::string>& log() const { return log_; }

 private:
  using Id = std::pair<Uuid, std::string>;
  static Id IdOf(const PageStoreEntry& e) { return {e.vm, e.name}; }
  static std::string PathOf(const Id& id) {
    return "fake:" + id.first.ToString() + "/" + id.second;
  }
  bool Failing(Op op);
  // The Id of a file the fake handed out (by its path); false for a foreign one.
  static bool ParsePath(const std::string& path, Id* out);

  std::map<Id, int> files_;  // the fake's own descriptor of each named file
  std::set<Op> fail_next_;
  std::vector<std::string> log_;
};

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_FAKE_PAGE_STORE_H_
