// Recovery: the restart's decisions and their application (see recovery.h).
#include "memfs/recovery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "memfs/records.h"

namespace mkd::memfs {
namespace {

// Deletes the record and the file of `key` (whatever is left of them).
void DropIncarnation(Store& store, PageStore& pages, const IncarnationKey& key) {
  (void)store.Delete(key);
  (void)pages.Remove(PageStoreEntry{key.vm, PageFileName(key)});
}

// The stored incarnation `meta` as a Block, or why it cannot be recovered.
Result<std::shared_ptr<Block>> RecoverOne(Store& store, PageStore& pages,
                                          const IncarnationMeta& meta, uint64_t* mismatching) {
  MKD_ASSIGN_OR_RETURN(Incarnation inc, store.Get(meta.key));
  if (std::optional<std::string> why = CheckRecord(inc)) return Status::Corrupt(*why);
  Result<PageFile> file = pages.Open(meta.key);
  if (!file.ok()) {
    return Status::NotFound(
        "its page-store file is missing (was the host or the tmpfs restarted?)");
  }
  if (std::optional<std::string> why = CheckFileSize(inc, file->SizeBytes())) {
    return Status::Corrupt(*why);
  }
  auto block = std::make_shared<Block>(inc.meta, std::move(inc.table), std::move(*file));
  MKD_ASSIGN_OR_RETURN(uint64_t bad, block->VerifyDigests(*inc.digests));
  block->SetDigests(std::move(*inc.digests));
  if (bad > 0) {
    spdlog::warn("{}: {} pages did not match their digests; they are invalid now",
                 DescribeIncarnation(meta.key), bad);
    MKD_RETURN_IF_ERROR(PersistRecord(store, *block));
  }
  *mismatching = bad;
  return block;
}

}  // namespace

RecoveryPlan PlanRecovery(const std::vector<IncarnationMeta>& records) {
  RecoveryPlan plan;
  for (const IncarnationMeta& m : records) {
    const BlockId id{m.key.vm, m.key.block};
    uint64_t& last = plan.last_incarnation[id];
    last = std::max(last, m.key.incarnation);
    if (m.state != IncarnationState::kStored) {
      plan.untrusted.push_back(m);
      continue;
    }
    auto [it, inserted] = plan.keep.emplace(id, m);
    if (inserted) continue;
    if (m.key.incarnation > it->second.key.incarnation) {
      plan.superseded.push_back(it->second);
      it->second = m;
    } else {
      plan.superseded.push_back(m);
    }
  }
  return plan;
}

std::optional<std::string> CheckRecord(const Incarnation& inc) {
  if (!inc.digests || inc.digests->pages() != inc.table.pages()) {
    return "no page digests recorded, its content cannot be checked";
  }
  return std::nullopt;
}

std::optional<std::string> CheckFileSize(const Incarnation& inc, int64_t file_bytes) {
  if (file_bytes < 0 || static_cast<uint64_t>(file_bytes) != inc.table.pages() * kPageSize) {
    return "its page-store file has the wrong size";
  }
  return std::nullopt;
}

std::vector<PageStoreEntry> StrayFiles(const std::vector<PageStoreEntry>& files,
                                       const std::vector<IncarnationKey>& kept) {
  std::set<std::pair<Uuid, std::string>> named;
  for (const IncarnationKey& key : kept) named.emplace(key.vm, PageFileName(key));
  std::vector<PageStoreEntry> stray;
  for (const PageStoreEntry& f : files) {
    if (!named.count({f.vm, f.name})) stray.push_back(f);
  }
  return stray;
}

Result<Recovered> RecoverStore(Store& store, PageStore& pages) {
  Result<std::vector<IncarnationMeta>> all = store.List();
  if (!all.ok()) return all.status().WithContext("reading the incarnation store");
  RecoveryPlan plan = PlanRecovery(*all);
  for (const IncarnationMeta& m : plan.untrusted) {
    spdlog::warn("{}: was {} when the daemon stopped; its memory is not trustworthy, dropped",
                 DescribeIncarnation(m.key), IncarnationStateName(m.state));
    DropIncarnation(store, pages, m.key);
  }
  for (const IncarnationMeta& m : plan.superseded) DropIncarnation(store, pages, m.key);

  Recovered out;
  out.last_incarnation = std::move(plan.last_incarnation);
  std::vector<IncarnationKey> kept;
  for (const auto& entry : plan.keep) {
    const IncarnationMeta& m = entry.second;
    uint64_t mismatching = 0;
    Result<std::shared_ptr<Block>> block = RecoverOne(store, pages, m, &mismatching);
    if (!block.ok()) {
      spdlog::warn("{}: {}; dropped", DescribeIncarnation(m.key), block.status().message());
      DropIncarnation(store, pages, m.key);
      continue;
    }
    spdlog::info("{}: stored incarnation recovered ({} pages, {} mismatching)",
                 DescribeIncarnation(m.key), m.pages, mismatching);
    kept.push_back(m.key);
    out.blocks.push_back(std::move(*block));
  }
  // Page-store files no record names are left-overs of a crash: free them.
  for (const PageStoreEntry& f : StrayFiles(pages.List(), kept)) {
    spdlog::info("page store: removing {} (no incarnation names it)", pages.Describe(f));
    (void)pages.Remove(f);
  }
  return out;
}

}  // namespace mkd::memfs
