// Records: a block's record in the Store (see records.h).
#include "memfs/records.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>
#include <optional>

namespace mkd::memfs {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string DescribeIncarnation(const IncarnationKey& key) {
  return "VM " + key.vm.ToString() + " block " + key.block + " incarnation " +
         std::to_string(key.incarnation);
}

Status PersistRecord(Store& store, Block& block) {
  std::lock_guard persist(block.persist_mu());
  if (block.dropped()) return Status::Ok();
  Block::Record r = block.PersistView(NowUnixMs());
  Status s = store.Put(r.meta, r.table, r.digests ? &*r.digests : nullptr);
  block.SetRecordState(s.ok() ? Block::RecordState::kSaved : Block::RecordState::kFailed);
  return s;
}

Status StoreLeftBlock(Store& store, Block& block, const IncarnationKey& key) {
  // Digests and encoding are the heavy part: no registry lock, no block lock across them.
  Result<PageDigests> digests = block.ComputeDigests();
  if (!digests.ok()) {
    block.SetRecordState(Block::RecordState::kFailed);
    return digests.status();
  }
  std::lock_guard persist(block.persist_mu());
  if (block.dropped()) return Status::Ok();
  std::optional<Block::Record> r = block.PersistStoredView(key, std::move(*digests), NowUnixMs());
  // Opened again meanwhile: it is another incarnation now, whose opener persists it.
  if (!r) return Status::Ok();
  Status s = store.Put(r->meta, r->table, &*r->digests);
  block.SetRecordState(s.ok() ? Block::RecordState::kSaved : Block::RecordState::kFailed);
  return s;
}

void StoreAndLog(Store& store, Block& block, const IncarnationKey& key, std::string_view event) {
  const auto t0 = std::chrono::steady_clock::now();
  const Status s = StoreLeftBlock(store, block, key);
  const IncarnationMeta meta = block.meta();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  if (!s.ok()) {
    // Kept (its memory is intact) and retried; until then the summary says record=failed and a
    // restart would drop it.
    spdlog::error(
        "{}: {}, but writing its record to the database failed (retried every 0.5 s; until then "
        "it would not survive a restart): {}",
        DescribeIncarnation(key), event, s.message());
  } else {
    spdlog::info("{}: {}; stored (epoch {}, {} pages, record written in {} ms)",
                 DescribeIncarnation(key), event, meta.epoch, meta.pages, ms);
  }
}

Status DropBlock(Store& store, PageStore& pages, Block& block) {
  std::lock_guard persist(block.persist_mu());
  Status s = store.Delete(block.meta().key);
  if (!s.ok() && s.code() != ErrorCode::kNotFound) return s;
  block.MarkDropped();
  s = pages.Remove(block.file());
  if (!s.ok() && s.code() != ErrorCode::kNotFound) return s;
  return Status::Ok();
}

}  // namespace mkd::memfs
