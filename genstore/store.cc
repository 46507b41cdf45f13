// Store: RocksDB keys and values for incarnations (docs/formats.md, "Per-host store").
//
// Keys:  "H"                                    -> host id the directory belongs to
//        "I" uuid(16) len(1) block u64be(inc) "M" -> metadata JSON
//        "I" uuid(16) len(1) block u64be(inc) "T" -> encoded generation table
//        "I" uuid(16) len(1) block u64be(inc) "D" -> encoded page digests (absent: none recorded)
// A record's keys are written and deleted together, in one WriteBatch.
#include "genstore/store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sys/statvfs.h>

#include "base/host_id.h"
#include "genstore/codec_header.h"
#include "genstore/digests.h"
#include "genstore/table_codec.h"

namespace mkd {
namespace {

constexpr char kHostKey[] = "H";
// Free space below which records are not written (Store::Write): room for a memtable flush
// (write_buffer_size below) and the log.
constexpr uint64_t kMinFreeBytes = 8 << 20;
constexpr char kIncarnationPrefix = 'I';

std::string VmPrefix(const Uuid& vm) {
  std::string k(1, kIncarnationPrefix);
  k.append(reinterpret_cast<const char*>(vm.bytes.data()), vm.bytes.size());
  return k;
}

std::string RecordPrefix(const IncarnationKey& key) {
  std::string k = VmPrefix(key.vm);
  k.push_back(static_cast<char>(key.block.size()));
  k.append(key.block);
  for (int shift = 56; shift >= 0; shift -= 8) {
    k.push_back(static_cast<char>(key.incarnation >> shift));  // big-endian: sorts numerically
  }
  return k;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  if (s.IsNotFound()) return Status::NotFound(std::string(what) + ": not found");
  if (s.IsCorruption()) {
    return Status::Corrupt(std::string(what) + ": " + s.ToString() +
                           " (the database is damaged; move it aside and let the host rebuild)");
  }
  return Status::Io(std::string(what) + ": " + s.ToString());
}

rocksdb::WriteOptions SyncedWrite() {
  rocksdb::WriteOptions w;
  w.sync = true;
  return w;
}

std::string KeyName(const IncarnationKey& key) {
  return "incarnation " + std::to_string(key.incarnation) + " of VM " + key.vm.ToString() +
         " block " + key.block;
}

}  // namespace

Store::Store(std::unique_ptr<rocksdb::DB> db, std::string dir, std::string host_id, bool read_only)
    : db_(std::move(db)),
      dir_(std::move(dir)),
      host_id_(std::move(host_id)),
      read_only_(read_only) {}

Status Store::CheckWritable() const {
  if (!read_only_) return Status::Ok();
  return Status::FailedPrecondition("store " + dir_ + " was opened read-only for inspection");
}

Result<std::unique_ptr<Store>> Store::OpenReadOnly(const std::string& dir) {
  rocksdb::Options options;
  options.paranoid_checks = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(options, dir, &raw);
  if (!s.ok()) return Status::Io("cannot open store " + dir + " for reading: " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string host_id;
  s = db->Get(rocksdb::ReadOptions(), kHostKey, &host_id);
  if (!s.ok()) return FromRocks(s, dir + " is not a miyakodori store (no host id)");
  return std::unique_ptr<Store>(new Store(std::move(db), dir, std::move(host_id), true));
}

Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, std::string_view host_id) {
  MKD_RETURN_IF_ERROR(ValidateHostId(host_id));
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  // After a full disk, RocksDB resumes by itself only once this much space is free again (its
  // "disk buffer" is the write buffer size, 64 MiB by default: more than a small --db volume may
  // ever have free). Records are small; 4 MiB of memtable is plenty.
  options.write_buffer_size = 4 << 20;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) {
    std::string hint = s.IsIOError() && s.ToString().find("lock") != std::string::npos
                           ? " (another process, e.g. a running mkd-memfs, has this --db open)"
                           : "";
    return Status::Io("cannot open store " + dir + ": " + s.ToString() + hint);
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string recorded;
  s = db->Get(rocksdb::ReadOptions(), kHostKey, &recorded);
  if (s.IsNotFound()) {
    s = db->Put(SyncedWrite(), kHostKey, rocksdb::Slice(host_id.data(), host_id.size()));
    if (!s.ok()) return FromRocks(s, "recording the host id in " + dir);
  } else if (!s.ok()) {
    return FromRocks(s, "reading the host id of " + dir);
  } else if (recorded != host_id) {
    return Status::FailedPrecondition("store " + dir + " belongs to host '" + recorded +
                                      "', not '" + std::string(host_id) +
                                      "'; give each host its own --db directory");
  }
  return std::unique_ptr<Store>(new Store(std::move(db), dir, std::string(host_id), false));
}

Status Store::Write(rocksdb::WriteBatch* batch, const std::string& what) {
  if (write_failed_.load()) {
    // A failed write (a full disk, typically) can leave RocksDB refusing every write until it
    // is told to resume; Resume fails as long as the cause is still there.
    rocksdb::Status r = db_->Resume();
    if (!r.ok()) return FromRocks(r, what + " (the database stopped after an earlier error)");
  }
  // RocksDB must not run into a full disk itself: the librocksdb we build against aborts the
  // process (an assertion in its log writer) on some writes after a failed append. So a write
  // is refused while the disk has less than kMinFreeBytes free (plus the batch), before RocksDB
  // sees it; the write is retried by the caller once space is back.
  struct statvfs fs {};
  if (::statvfs(dir_.c_str(), &fs) == 0) {
    const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (free_bytes < kMinFreeBytes + batch->GetDataSize()) {
      write_failed_.store(true);
      return Status::Io(what + ": the --db disk " + dir_ + " is full (" +
                        std::to_string(free_bytes >> 10) + " KiB free, at least " +
                        std::to_string(kMinFreeBytes >> 20) +
                        " MiB needed); writes are retried when space is freed");
    }
  }
  rocksdb::Status s = db_->Write(SyncedWrite(), batch);
  write_failed_.store(!s.ok());
  if (s.IsNoSpace() || (s.IsIOError() && s.ToString().find("space") != std::string::npos)) {
    return Status::Io(what + ": " + s.ToString() + " (the --db disk " + dir_ +
                      " is full; writes are retried when space is freed)");
  }
  return FromRocks(s, what);
}

Status Store::Put(const IncarnationMeta& meta, const GenerationTable& table,
                  const PageDigests* digests) {
  MKD_RETURN_IF_ERROR(CheckWritable());
  MKD_RETURN_IF_ERROR(ValidateBlockName(meta.key.block));
  if (meta.pages != table.pages()) {
    return Status::InvalidArgument(KeyName(meta.key) + ": metadata says " +
                                   std::to_string(meta.pages) + " pages, table has " +
                                   std::to_string(table.pages()));
  }
  if (digests != nullptr && digests->pages() != meta.pages) {
    return Status::InvalidArgument(
        KeyName(meta.key) + ": metadata says " + std::to_string(meta.pages) + " pages, but " +
        std::to_string(digests->pages()) + " page digests were given (one per page, or none)");
  }
  if (meta.lineage.IsNil()) {
    return Status::InvalidArgument(KeyName(meta.key) +
                                   ": the lineage is nil; set it to the VM's lineage (a random "
                                   "UUID chosen at cold boot)");
  }
  if (meta.host_id != host_id_) {
    return Status::InvalidArgument(KeyName(meta.key) + ": metadata names host '" + meta.host_id +
                                   "' but this store is host '" + host_id_ + "'");
  }
  const std::string prefix = RecordPrefix(meta.key);
  const CodecHeader header{meta.key.vm, meta.key.block, meta.epoch, meta.pages};
  rocksdb::WriteBatch batch;
  rocksdb::Status s = batch.Put(prefix + "M", EncodeIncarnationMeta(meta));
  if (s.ok()) s = batch.Put(prefix + "T", EncodeTable(header, table));
  if (s.ok()) {
    s = digests == nullptr ? batch.Delete(prefix + "D")
                           : batch.Put(prefix + "D", EncodeDigests(header, *digests));
  }
  if (!s.ok()) return FromRocks(s, "writing " + KeyName(meta.key));
  return Write(&batch, "writing " + KeyName(meta.key));
}

Result<Incarnation> Store::Get(const IncarnationKey& key) const {
  MKD_RETURN_IF_ERROR(ValidateBlockName(key.block));
  const std::string prefix = RecordPrefix(key);
  rocksdb::ReadOptions read;
  const rocksdb::Snapshot* snapshot = db_->GetSnapshot();
  read.snapshot = snapshot;
  std::string meta_bytes, table_bytes, digest_bytes;
  rocksdb::Status sm = db_->Get(read, prefix + "M", &meta_bytes);
  rocksdb::Status st = db_->Get(read, prefix + "T", &table_bytes);
  rocksdb::Status sd = db_->Get(read, prefix + "D", &digest_bytes);
  db_->ReleaseSnapshot(snapshot);
  if (sm.IsNotFound() && st.IsNotFound()) {
    if (sd.IsNotFound()) return Status::NotFound(KeyName(key) + " is not stored");
    return Status::Corrupt(KeyName(key) + ": page digests without metadata and table");
  }
  if (sm.IsNotFound() != st.IsNotFound()) {
    return Status::Corrupt(KeyName(key) + ": metadata and table are not both present");
  }
  MKD_RETURN_IF_ERROR(FromRocks(sm, "reading " + KeyName(key)));
  MKD_RETURN_IF_ERROR(FromRocks(st, "reading " + KeyName(key)));
  if (!sd.IsNotFound()) MKD_RETURN_IF_ERROR(FromRocks(sd, "reading " + KeyName(key)));

  Result<IncarnationMeta> meta = DecodeIncarnationMeta(meta_bytes);
  if (!meta.ok()) return meta.status().WithContext(KeyName(key));
  Result<DecodedTable> table = DecodeTable(table_bytes);
  if (!table.ok()) return table.status().WithContext(KeyName(key));
  const CodecHeader& h = table->header;
  if (!(meta->key == key) || h.vm != key.vm || h.block != key.block || h.pages != meta->pages ||
      h.epoch != meta->epoch) {
    return Status::Corrupt(KeyName(key) + ": metadata and table disagree (key, pages or epoch)");
  }
  Incarnation out{std::move(*meta), std::move(table->table), std::nullopt};
  if (!sd.IsNotFound()) {
    CodecHeader dh;
    Result<PageDigests> digests = DecodePageDigests(digest_bytes, &dh);
    if (!digests.ok()) return digests.status().WithContext(KeyName(key));
    if (dh.vm != key.vm || dh.block != key.block || dh.pages != out.meta.pages ||
        dh.epoch != out.meta.epoch) {
      return Status::Corrupt(KeyName(key) +
                             ": metadata and page digests disagree (key, pages or epoch)");
    }
    out.digests = std::move(*digests);
  }
  return out;
}

Result<std::vector<IncarnationMeta>> Store::List(std::optional<Uuid> vm) const {
  const std::string prefix = vm ? VmPrefix(*vm) : std::string(1, kIncarnationPrefix);
  std::vector<IncarnationMeta> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.empty() || k[k.size() - 1] != 'M') continue;
    Result<IncarnationMeta> meta = DecodeIncarnationMeta(it->value().ToStringView());
    if (!meta.ok()) return meta.status().WithContext("listing " + dir_);
    out.push_back(std::move(*meta));
  }
  MKD_RETURN_IF_ERROR(FromRocks(it->status(), "listing " + dir_));
  return out;
}

Status Store::Delete(const IncarnationKey& key) {
  MKD_RETURN_IF_ERROR(CheckWritable());
  MKD_RETURN_IF_ERROR(ValidateBlockName(key.block));
  const std::string prefix = RecordPrefix(key);
  std::string ignored;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), prefix + "M", &ignored);
  if (s.IsNotFound()) return Status::NotFound(KeyName(key) + " is not stored");
  MKD_RETURN_IF_ERROR(FromRocks(s, "reading " + KeyName(key)));
  rocksdb::WriteBatch batch;
  s = batch.Delete(prefix + "M");
  if (s.ok()) s = batch.Delete(prefix + "T");
  if (s.ok()) s = batch.Delete(prefix + "D");
  if (!s.ok()) return FromRocks(s, "deleting " + KeyName(key));
  return Write(&batch, "deleting " + KeyName(key));
}

}  // namespace mkd
