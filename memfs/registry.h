// Registry: everything mkd-memfs knows, composed of its parts — the namespace (root, one
// directory per VM, one file per RAM block; inode numbers in an InodeTable, inode_table.h), the
// incarnation lifecycle of each block (live, incoming, stored; docs/memfs.md), with the
// reuse-or-reset rule of an open in reuse_rule.h, their records in the per-host Store
// (records.h), their files in the page store (page_store.h, the only code that creates, renames
// or deletes page-store files), the memory budget of stored incarnations (budget.h) and the
// restart (recovery.h). The Registry holds the one lock and applies what those parts decide.
// Code: registry.cc (composition, records, memory), registry_namespace.cc (the FUSE-facing
// namespace), registry_lifecycle.cc (arrive, commit, abort, advance), registry_postcopy.cc.
//
// It knows nothing of FUSE: methods return negative errno for namespace operations (the FUSE
// layer replies with them) and Status for lifecycle operations. The one thing it asks of the
// FUSE layer is to drop the kernel's page cache of a file (SetCacheInvalidator), which it calls
// without holding any lock.
//
// Thread-safe. mu_ guards the maps, the inode table, the page store and lifecycle transitions;
// Block has its own lock, and a record lock (Block::persist_mu) that orders writes of its record
// to the Store. Lock order: mu_, then Block::persist_mu, then Block::mu_. mu_ is never held
// across a call into the kernel's FUSE interface (cache invalidation), so a request that the
// kernel issues meanwhile can be served, nor while the record of a VM that left is computed and
// written (digests of its page store, the database write): other VMs' requests do not wait for
// that.
#ifndef MKD_MEMFS_REGISTRY_H_
#define MKD_MEMFS_REGISTRY_H_

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/uuid.h"
#include "genstore/store.h"
#include "memfs-protocol/arrival.h"
#include "memfs/access.h"
#include "memfs/block.h"
#include "memfs/budget.h"
#include "memfs/inode_table.h"
#include "memfs/page_store.h"
#include "memfs/reuse_rule.h"

namespace mkd::memfs {

// Result of a lookup or create: the inode and its attributes.
struct Entry {
  Ino ino = 0;
  struct stat attr {};
};

struct OpenResult {
  std::shared_ptr<Block> block;
  bool writer = false;
  bool direct_io = false;   // stored: reads bypass the page cache
  bool keep_cache = false;  // live: keep the page cache (it is the guest's RAM)
};

struct RegistryOptions {
  std::string store_dir;               // page-store directory (tmpfs)
  uint64_t budget_bytes = UINT64_MAX;  // memory of stored incarnations
  // Largest RAM file (--max-file-size): a larger ftruncate fails with EFBIG.
  uint64_t max_file_bytes = kMaxPages * kPageSize;
  // A post-copy fails when its driver (mkd-migrate serve) stays silent this long.
  std::chrono::milliseconds postcopy_lease{5000};
  // Owners and modes the files report (the kernel checks them: docs/security.md).
  AccessPolicy access;
};

// Totals for the root summary.
struct HostTotals {
  uint64_t vms = 0, live = 0, incoming = 0, stored = 0;
  uint64_t stored_resident_pages = 0, live_resident_pages = 0;
  uint64_t unsaved = 0;         // blocks whose record is not (yet) in the database
  uint64_t max_file_bytes = 0;  // the largest RAM file (--max-file-size)
};

class Registry {
 public:
  // The page store is the directory options.store_dir.
  Registry(Store* store, RegistryOptions options);
  // The page store is `pages` (a FakePageStore in tests; null: the directory
  // options.store_dir, which is reported by store_dir() either way).
  Registry(Store* store, std::unique_ptr<PageStore> pages, RegistryOptions options);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // At start: rebuilds the namespace from the store (recovery.h: incarnations that were live or
  // incoming when the daemon stopped are dropped; stored ones are checked page by page against
  // their digests; page-store files no record names are deleted). Logs what it did.
  Status Recover();

  // Called with an inode whose page cache the kernel must drop; set by the FUSE layer.
  void SetCacheInvalidator(std::function<void(Ino)> fn) { invalidate_ = std::move(fn); }

  // ---- Namespace (negative errno) ----
  int Lookup(Ino parent, const std::string& name, Entry* out);
  // Returns true when the inode is gone for good (removed and forgotten by the kernel).
  bool Forget(Ino ino, uint64_t nlookup);
  // *receiving (if given): the inode is a RAM file of an incoming incarnation, whose pages
  // arrive through user.mkd.receive (its mode and owner cannot change until the commit or
  // abort, which drop the kernel's cache of it).
  int GetAttr(Ino ino, struct stat* out, bool* receiving = nullptr) const;
  int Resolve(Ino ino, NodeRef* out) const;
  std::shared_ptr<Block> FindBlock(Ino ino) const;
  int Mkdir(Ino parent, const std::string& name, Entry* out);
  int Rmdir(Ino parent, const std::string& name);
  // Removes a stored block (frees its memory and forgets its incarnation).
  int Unlink(Ino parent, const std::string& name);
  // Names in a directory (".", ".." excluded) with their inode numbers and modes.
  int List(Ino dir, std::vector<std::pair<std::string, struct stat>>* out) const;
  // Creates a RAM block file (O_CREAT) and opens it for writing.
  int Create(Ino parent, const std::string& name, Entry* entry, OpenResult* out);
  int Open(Ino ino, int flags, OpenResult* out);
  // The last close of a writer makes a live block stored (the VM left), then writes its record
  // (digests of the resident pages, table) without holding mu_. If that write fails the block
  // stays stored with record=failed and RetryFailedRecords writes it later.
  void Release(Ino ino, bool writer);
  // ftruncate: the size is set once; above options.max_file_bytes it is -EFBIG (logged).
  int SetSize(Ino ino, uint64_t bytes);
  // Writes again the records whose last write failed (e.g. the --db disk was full); run
  // periodically. Returns how many were written.
  size_t RetryFailedRecords();

  // ---- Lifecycle ----
  Status Arrive(const Uuid& vm, const Arrival& arrival);
  Status Commit(const Uuid& vm);
  Status Abort(const Uuid& vm);
  // Every live block of the VM goes on in `epoch` (Block::AdvanceEpoch).
  Status AdvanceEpoch(const Uuid& vm, Epoch epoch);
  std::optional<Arrival> PendingArrival(const Uuid& vm) const;

  // ---- Post-copy (registry_postcopy.cc; the pages themselves: postcopy.h) ----
  // Answers parked reads (err 0: their pages are there now); set by the FUSE layer.
  void SetReadCompleter(std::function<void(const ParkedRead&, int err)> fn) {
    complete_read_ = std::move(fn);
  }
  void CompleteReads(const std::vector<ParkedRead>& reads, int err) const;
  // Fails the post-copy of every block of `vm` (its driver says the source is gone): reads of
  // missing pages fail from now on. FailedPrecondition when none is active.
  Status FailPostcopy(const Uuid& vm, const std::string& reason);
  // Fails every post-copy whose driver stopped polling within the lease; run periodically.
  // Returns how many failed.
  size_t CheckPostcopyLeases();
  // Frees at least `bytes` of stored incarnations' memory if it can (page store full).
  uint64_t FreeStoredMemory(uint64_t bytes);
  // Evicts stored pages until the stored memory fits the budget.
  void EnforceBudget();
  uint64_t budget_bytes() const { return options_.budget_bytes; }
  const std::string& store_dir() const { return options_.store_dir; }
  HostTotals Totals() const;
  // Blocks of a VM, by name.
  std::vector<std::pair<std::string, std::shared_ptr<Block>>> Blocks(const Uuid& vm) const;
  const std::string& host_id() const { return store_->host_id(); }

 private:
  struct BlockEntry {
    Ino ino = 0;
    std::shared_ptr<Block> block;
    uint32_t writers = 0;
  };
  struct VmEntry {
    Ino ino = 0;
    std::optional<Arrival> arrival;
    std::map<std::string, BlockEntry> blocks;
  };

  uint64_t NextIncarnationLocked(const Uuid& vm, const std::string& block);
  // The block entry of inode `ino`, or null when `ino` is not a current RAM file.
  BlockEntry* FindBlockLocked(Ino ino);
  const BlockEntry* FindBlockLocked(Ino ino) const;
  // The metadata of every block of `vm` (for the reuse-or-reset rule).
  static std::vector<IncarnationMeta> MetasOf(const VmEntry& vm);
  // The kernel is told about inode `ino` (one more lookup): fills `out`.
  void ReplyEntryLocked(Ino ino, Entry* out);
  void FillAttrLocked(Ino ino, const InodeTable::Node& node, struct stat* st,
                      bool* receiving = nullptr) const;
  // Persists the block (now a new incarnation) and deletes the record of `old_key`.
  Status ReplaceRecordLocked(Block& block, const IncarnationKey& old_key);
  void InvalidateCache(const std::vector<Ino>& inos);
  Result<std::shared_ptr<Block>> NewBlockLocked(const Uuid& vm, const std::string& name,
                                                const BlockStart& start);
  // The stored incarnations as the budget sees them, and their blocks (same indexes).
  void StoredLocked(std::vector<StoredUsage>* usage, std::vector<Block*>* blocks) const;
  // Evicts `pages` pages from the stored incarnations (budget.h's order); returns those freed.
  uint64_t EvictLocked(const std::vector<StoredUsage>& usage, const std::vector<Block*>& blocks,
                       uint64_t pages);

  Store* store_;
  RegistryOptions options_;
  Budget budget_;
  std::function<void(Ino)> invalidate_;
  std::function<void(const ParkedRead&, int)> complete_read_;

  mutable std::mutex mu_;
  std::unique_ptr<PageStore> pages_;  // guarded by mu_ (see page_store.h)
  std::map<Uuid, VmEntry> vms_;
  InodeTable inodes_;
  std::map<std::pair<Uuid, std::string>, uint64_t> last_incarnation_;
  int64_t start_unix_ms_ = 0;
};

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_REGISTRY_H_
