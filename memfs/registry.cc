// Registry: construction, the restart (applying recovery.h), the records retried, the budget
// (applying budget.h to the stored blocks), totals, and the helpers the other registry_*.cc files
// share (see registry.h). Touches the Store and the page store only through records.h,
// recovery.h and PageStore.
#include "memfs/registry.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "genstore/codec_header.h"
#include "memfs/records.h"
#include "memfs/recovery.h"

namespace mkd::memfs {

Registry::Registry(Store* store, RegistryOptions options)
    : Registry(store, nullptr, std::move(options)) {}

Registry::Registry(Store* store, std::unique_ptr<PageStore> pages, RegistryOptions options)
    : store_(store),
      options_(std::move(options)),
      budget_(options_.budget_bytes),
      pages_(pages ? std::move(pages) : std::make_unique<DirPageStore>(options_.store_dir)),
      start_unix_ms_(NowUnixMs()) {}

uint64_t Registry::NextIncarnationLocked(const Uuid& vm, const std::string& block) {
  return ++last_incarnation_[{vm, block}];
}

Registry::BlockEntry* Registry::FindBlockLocked(Ino ino) {
  const InodeTable::Node* node = inodes_.Find(ino);
  if (node == nullptr || node->ref.kind != NodeRef::Kind::kBlock) return nullptr;
  auto vm = vms_.find(node->ref.vm);
  if (vm == vms_.end()) return nullptr;
  auto b = vm->second.blocks.find(node->ref.block);
  if (b == vm->second.blocks.end() || b->second.ino != ino) return nullptr;
  return &b->second;
}

const Registry::BlockEntry* Registry::FindBlockLocked(Ino ino) const {
  return const_cast<Registry*>(this)->FindBlockLocked(ino);
}

std::vector<IncarnationMeta> Registry::MetasOf(const VmEntry& vm) {
  std::vector<IncarnationMeta> out;
  for (const auto& entry : vm.blocks) out.push_back(entry.second.block->meta());
  return out;
}

void Registry::ReplyEntryLocked(Ino ino, Entry* out) {
  inodes_.Ref(ino);
  out->ino = ino;
  FillAttrLocked(ino, *inodes_.Find(ino), &out->attr);
}

// ---------------------------------------------------------------- restart

Status Registry::Recover() {
  std::lock_guard lock(mu_);
  MKD_ASSIGN_OR_RETURN(Recovered recovered, RecoverStore(*store_, *pages_));
  for (const auto& [id, last] : recovered.last_incarnation) {
    uint64_t& mine = last_incarnation_[id];
    mine = std::max(mine, last);
  }
  for (std::shared_ptr<Block>& block : recovered.blocks) {
    const IncarnationKey key = block->meta().key;
    VmEntry& vm = vms_[key.vm];
    if (vm.ino == 0) vm.ino = inodes_.Add(NodeRef{NodeRef::Kind::kVm, key.vm, ""});
    BlockEntry& entry = vm.blocks[key.block];
    entry.ino = inodes_.Add(NodeRef{NodeRef::Kind::kBlock, key.vm, key.block});
    entry.block = std::move(block);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- records

size_t Registry::RetryFailedRecords() {
  std::vector<std::shared_ptr<Block>> failed;
  {
    std::lock_guard lock(mu_);
    for (auto& [vm, entry] : vms_) {
      for (auto& [name, b] : entry.blocks) {
        if (b.block->ClaimFailedRecord()) failed.push_back(b.block);
      }
    }
  }
  size_t saved = 0;
  for (const std::shared_ptr<Block>& block : failed) {
    const IncarnationMeta meta = block->meta();
    const bool stored = meta.state == IncarnationState::kStored;
    Status s = stored && !block->has_digests() ? StoreLeftBlock(*store_, *block, meta.key)
                                               : PersistRecord(*store_, *block);
    if (s.ok()) {
      ++saved;
      spdlog::info("{}: record written to the database after all ({})",
                   DescribeIncarnation(meta.key), IncarnationStateName(meta.state));
    } else {
      spdlog::debug("{}: writing the record failed again: {}", DescribeIncarnation(meta.key),
                    s.message());
    }
  }
  return saved;
}

Result<std::shared_ptr<Block>> Registry::NewBlockLocked(const Uuid& vm, const std::string& name,
                                                        const BlockStart& start) {
  IncarnationMeta meta;
  meta.key = IncarnationKey{vm, name, NextIncarnationLocked(vm, name)};
  meta.state = start.state;
  meta.epoch = start.epoch;
  meta.lineage = start.lineage;
  meta.host_id = store_->host_id();
  MKD_ASSIGN_OR_RETURN(PageFile file, pages_->Create(meta.key));
  auto block = std::make_shared<Block>(meta, GenerationTable(0), std::move(file));
  MKD_RETURN_IF_ERROR(PersistRecord(*store_, *block));
  return block;
}

Status Registry::ReplaceRecordLocked(Block& block, const IncarnationKey& old_key) {
  MKD_RETURN_IF_ERROR(PersistRecord(*store_, block));
  return store_->Delete(old_key);
}

void Registry::InvalidateCache(const std::vector<Ino>& inos) {
  if (!invalidate_) return;
  for (Ino ino : inos) invalidate_(ino);
}

// ---------------------------------------------------------------- memory

void Registry::StoredLocked(std::vector<StoredUsage>* usage, std::vector<Block*>* blocks) const {
  for (const auto& [vm, entry] : vms_) {
    for (const auto& [name, b] : entry.blocks) {
      if (b.block->state() != IncarnationState::kStored) continue;
      Result<uint64_t> resident = b.block->ResidentPages();
      usage->push_back(
          StoredUsage{b.block->meta().left_unix_ms, resident.ok() ? *resident : 0, b.writers > 0});
      blocks->push_back(b.block.get());
    }
  }
}

uint64_t Registry::EvictLocked(const std::vector<StoredUsage>& usage,
                               const std::vector<Block*>& blocks, uint64_t pages) {
  return Budget::EvictInOrder(
      Budget::EvictionOrder(usage), pages, [this, &blocks](size_t i, uint64_t wanted) -> uint64_t {
        Block& block = *blocks[i];
        Result<uint64_t> n = block.EvictColdest(wanted);
        if (!n.ok()) {
          spdlog::error("eviction: {}", n.status().message());
          return 0;
        }
        if (*n == 0) return 0;
        if (Status s = PersistRecord(*store_, block); !s.ok()) {
          spdlog::error("eviction: persisting {}: {}", DescribeIncarnation(block.meta().key),
                        s.message());
        }
        spdlog::info("eviction: {} pages of {} freed", *n, DescribeIncarnation(block.meta().key));
        return *n;
      });
}

void Registry::EnforceBudget() {
  std::lock_guard lock(mu_);
  if (budget_.unlimited()) return;
  std::vector<StoredUsage> usage;
  std::vector<Block*> blocks;
  StoredLocked(&usage, &blocks);
  const uint64_t over = budget_.PagesOver(usage);
  if (over == 0) return;
  const uint64_t freed = EvictLocked(usage, blocks, over);
  spdlog::info("budget: stored incarnations held {} pages over the budget of {} pages; {} freed",
               over, budget_.pages(), freed);
}

uint64_t Registry::FreeStoredMemory(uint64_t bytes) {
  std::lock_guard lock(mu_);
  std::vector<StoredUsage> usage;
  std::vector<Block*> blocks;
  StoredLocked(&usage, &blocks);
  return EvictLocked(usage, blocks, (bytes + kPageSize - 1) / kPageSize) * kPageSize;
}

HostTotals Registry::Totals() const {
  std::lock_guard lock(mu_);
  HostTotals t;
  t.vms = vms_.size();
  t.max_file_bytes = options_.max_file_bytes;
  for (const auto& [vm, entry] : vms_) {
    for (const auto& [name, b] : entry.blocks) {
      const IncarnationState st = b.block->state();
      if (b.block->record_state() != Block::RecordState::kSaved) ++t.unsaved;
      Result<uint64_t> r = b.block->ResidentPages();
      const uint64_t resident = r.ok() ? *r : 0;
      if (st == IncarnationState::kStored) {
        ++t.stored;
        t.stored_resident_pages += resident;
      } else {
        (st == IncarnationState::kLive ? t.live : t.incoming) += 1;
        t.live_resident_pages += resident;
      }
    }
  }
  return t;
}

std::vector<std::pair<std::string, std::shared_ptr<Block>>> Registry::Blocks(const Uuid& vm) const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, std::shared_ptr<Block>>> out;
  auto it = vms_.find(vm);
  if (it == vms_.end()) return out;
  for (const auto& [name, b] : it->second.blocks) out.emplace_back(name, b.block);
  return out;
}

}  // namespace mkd::memfs
