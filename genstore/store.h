// Store: the per-host database of incarnations (RocksDB, one directory per host): for each
// (VM, block, incarnation) its metadata (incarnation.h), its generation table (table_codec.h) and,
// optionally, its per-page content digests (digests.h).
//
// Durability and atomicity: Put and Delete write the metadata, the table and the digests in one
// RocksDB WriteBatch with a synced WAL, so after a crash (even SIGKILL in the middle of a write) a
// reader finds each record either fully old or fully new, never a table or digests of one version
// with the metadata of another. Get reads all three from one snapshot and checks that they agree.
//
// The directory is bound to a host id on first open; opening it with another host id fails, so
// two hosts of a lab never share a database by mistake. RocksDB locks the directory: a second
// process opening it gets an error naming the lock.
//
// Thread-safe: every method may be called concurrently. Move-only resource owner.
#ifndef MKD_GENSTORE_STORE_H_
#define MKD_GENSTORE_STORE_H_

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "genstore/generation_table.h"
#include "genstore/incarnation.h"
#include "genstore/status.h"

namespace rocksdb {
class DB;
}

namespace mkd {

struct Incarnation {
  IncarnationMeta meta;
  GenerationTable table;
  // One XXH3-64 per page (PageDigest), as recorded by the last Put; empty when that Put recorded
  // none. Otherwise exactly meta.pages entries.
  std::vector<uint64_t> digests;
};

class Store {
 public:
  // Opens (creating if needed) the database in `dir` for host `host_id`.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, std::string_view host_id);
  // Opens an existing database for inspection only, also while a daemon has it open for writing;
  // the host id is the one recorded in it. Put and Delete fail with FailedPrecondition.
  static Result<std::unique_ptr<Store>> OpenReadOnly(const std::string& dir);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& host_id() const { return host_id_; }
  const std::string& dir() const { return dir_; }

  // Writes metadata, table and digests atomically (synced), replacing the whole record: a Put
  // without digests removes digests an earlier Put recorded. Requires meta.pages ==
  // table.pages(), digests empty or of meta.pages entries, a valid block name, a non-nil
  // meta.lineage and meta.host_id == host_id(); InvalidArgument otherwise. Provisional pages are
  // stored as invalid.
  Status Put(const IncarnationMeta& meta, const GenerationTable& table,
             std::span<const uint64_t> digests = {});
  // Reads one incarnation (metadata, table, digests) from one snapshot; NotFound when absent,
  // Corrupt when a part fails its checks or the parts disagree (key, pages, epoch).
  Result<Incarnation> Get(const IncarnationKey& key) const;
  // Metadata of every incarnation, or of one VM's, in key order (VM, block, incarnation).
  Result<std::vector<IncarnationMeta>> List(std::optional<Uuid> vm = std::nullopt) const;
  // Removes metadata, table and digests atomically; NotFound when absent.
  Status Delete(const IncarnationKey& key);

 private:
  Store(std::unique_ptr<rocksdb::DB> db, std::string dir, std::string host_id, bool read_only);
  Status CheckWritable() const;

  std::unique_ptr<rocksdb::DB> db_;
  std::string dir_;
  std::string host_id_;
  bool read_only_ = false;
};

}  // namespace mkd

#endif  // MKD_GENSTORE_STORE_H_
