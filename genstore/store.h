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

#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "genstore/digests.h"
#include "genstore/generation_table.h"
#include "genstore/incarnation.h"

namespace rocksdb {
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace mkd {

struct Incarnation {
  IncarnationMeta meta;
  GenerationTable table;
  // The page digests (PageDigest) recorded by the last Put, of meta.pages pages; none when that
  // Put recorded none.
  std::optional<PageDigests> digests;
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
  // without digests (null) removes digests an earlier Put recorded. Requires meta.pages ==
  // table.pages(), digests null or of meta.pages pages, a valid block name, a non-nil
  // meta.lineage and meta.host_id == host_id(); InvalidArgument otherwise. Provisional pages are
  // stored as invalid. The value sizes follow the pages written (sparse digests, run-length
  // table), not the block size.
  // A write that fails because the disk is full (or after any error that made RocksDB stop
  // writing) is an Io error naming the cause; the next Put or Delete first asks RocksDB to
  // resume (DB::Resume), so writes work again once space is back.
  Status Put(const IncarnationMeta& meta, const GenerationTable& table,
             const PageDigests* digests = nullptr);
  // Reads one incarnation (metadata, table, digests) from one snapshot; NotFound when absent,
  // Corrupt when a part fails its checks or the parts disagree (key, pages, epoch).
  Result<Incarnation> Get(const IncarnationKey& key) const;
  // Metadata of every incarnation, or of one VM's, in key order (VM, block, incarnation).
  Result<std::vector<IncarnationMeta>> List(std::optional<Uuid> vm = std::nullopt) const;
  // Removes metadata, table and digests atomically; NotFound when absent. Resumes as Put does.
  Status Delete(const IncarnationKey& key);

 private:
  Store(std::unique_ptr<rocksdb::DB> db, std::string dir, std::string host_id, bool read_only);
  Status CheckWritable() const;
  // Writes a batch (synced). After a failed write, RocksDB may have stopped accepting writes
  // (background error, e.g. no space); the next write calls DB::Resume first.
  Status Write(rocksdb::WriteBatch* batch, const std::string& what);

  std::unique_ptr<rocksdb::DB> db_;
  std::string dir_;
  std::string host_id_;
  bool read_only_ = false;
  std::atomic<bool> write_failed_{false};  // the last write failed: resume before the next
};

}  // namespace mkd

#endif  // MKD_GENSTORE_STORE_H_
