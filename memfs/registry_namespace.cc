// Registry: the namespace the FUSE layer sees (see registry.h) — lookup, attributes, mkdir,
// rmdir, unlink, readdir, create, open (applying the reuse-or-reset rule, reuse_rule.h), release
// (the VM leaves) and truncate. Each takes Registry::mu_; errors are negative errno.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "memfs/records.h"
#include "memfs/registry.h"

namespace mkd::memfs {

void Registry::FillAttrLocked(Ino ino, const InodeTable::Node& node, struct stat* st,
                              bool* receiving) const {
  const AccessPolicy& access = options_.access;
  *st = {};
  if (receiving != nullptr) *receiving = false;
  st->st_ino = ino;
  st->st_uid = access.vm_uid;
  st->st_gid = access.file_gid();
  st->st_blksize = kPageSize;
  const int64_t ms = start_unix_ms_;
  st->st_mtim.tv_sec = st->st_ctim.tv_sec = st->st_atim.tv_sec = ms / 1000;
  if (node.ref.kind == NodeRef::Kind::kRoot) {
    st->st_uid = 0;
    st->st_gid = access.admin_gid.value_or(0);
    st->st_mode = S_IFDIR | access.root_mode();
    st->st_nlink = 2;
    return;
  }
  if (node.ref.kind == NodeRef::Kind::kVm) {
    st->st_mode = S_IFDIR | access.vm_dir_mode();
    st->st_nlink = 2;
    return;
  }
  st->st_mode = S_IFREG | access.file_mode(false);
  st->st_nlink = node.removed ? 0 : 1;
  auto vm = vms_.find(node.ref.vm);
  if (vm == vms_.end()) return;
  auto b = vm->second.blocks.find(node.ref.block);
  if (b == vm->second.blocks.end() || b->second.ino != ino) return;
  const Block& block = *b->second.block;
  const IncarnationMeta meta = block.meta();
  // A stored file is read-only, except while an arrival is pending: the destination QEMU (the
  // VM user) must open it for writing then.
  const bool writable = meta.state != IncarnationState::kStored || vm->second.arrival.has_value();
  st->st_mode = S_IFREG | access.file_mode(writable);
  st->st_size = static_cast<off_t>(block.size());
  Result<uint64_t> resident = block.ResidentPages();
  st->st_blocks = static_cast<blkcnt_t>((resident.ok() ? *resident : 0) * (kPageSize / 512));
  if (meta.left_unix_ms > 0) st->st_mtim.tv_sec = st->st_ctim.tv_sec = meta.left_unix_ms / 1000;
  if (receiving != nullptr) *receiving = meta.state == IncarnationState::kIncoming;
}

int Registry::Resolve(Ino ino, NodeRef* out) const {
  std::lock_guard lock(mu_);
  const InodeTable::Node* node = inodes_.Find(ino);
  if (node == nullptr) return -ENOENT;
  *out = node->ref;
  return 0;
}

std::shared_ptr<Block> Registry::FindBlock(Ino ino) const {
  std::lock_guard lock(mu_);
  const BlockEntry* b = FindBlockLocked(ino);
  return b ? b->block : nullptr;
}

int Registry::Lookup(Ino parent, const std::string& name, Entry* out) {
  std::lock_guard lock(mu_);
  const InodeTable::Node* p = inodes_.Find(parent);
  if (p == nullptr) return -ENOENT;
  Ino ino = 0;
  if (p->ref.kind == NodeRef::Kind::kRoot) {
    Uuid vm;
    if (!ParseVmDirName(name, &vm)) return -ENOENT;
    auto it = vms_.find(vm);
    if (it == vms_.end()) return -ENOENT;
    ino = it->second.ino;
  } else if (p->ref.kind == NodeRef::Kind::kVm) {
    auto vm = vms_.find(p->ref.vm);
    if (vm == vms_.end()) return -ENOENT;
    auto b = vm->second.blocks.find(name);
    if (b == vm->second.blocks.end()) return -ENOENT;
    ino = b->second.ino;
  } else {
    return -ENOTDIR;
  }
  ReplyEntryLocked(ino, out);
  return 0;
}

bool Registry::Forget(Ino ino, uint64_t nlookup) {
  std::lock_guard lock(mu_);
  return inodes_.Forget(ino, nlookup);
}

int Registry::GetAttr(Ino ino, struct stat* out, bool* receiving) const {
  std::lock_guard lock(mu_);
  const InodeTable::Node* node = inodes_.Find(ino);
  if (node == nullptr) return -ENOENT;
  FillAttrLocked(ino, *node, out, receiving);
  return 0;
}

int Registry::Mkdir(Ino parent, const std::string& name, Entry* out) {
  std::lock_guard lock(mu_);
  if (parent != kRootIno) {
    spdlog::warn("mkdir {}: directories exist only at the top level, one per VM", name);
    return -EPERM;
  }
  Uuid vm;
  if (!ParseVmDirName(name, &vm)) {
    spdlog::warn(
        "mkdir {}: refused; a VM directory is named by the VM's UUID in lower case "
        "(e.g. 0b5c3bb0-6c2f-4d3e-9d7c-5a1e2f3a4b5c)",
        name);
    return -EINVAL;
  }
  if (vms_.count(vm)) return -EEXIST;
  VmEntry& entry = vms_[vm];
  entry.ino = inodes_.Add(NodeRef{NodeRef::Kind::kVm, vm, ""});
  ReplyEntryLocked(entry.ino, out);
  return 0;
}

int Registry::Rmdir(Ino parent, const std::string& name) {
  std::lock_guard lock(mu_);
  Uuid vm;
  if (parent != kRootIno || !ParseVmDirName(name, &vm)) return -ENOENT;
  auto it = vms_.find(vm);
  if (it == vms_.end()) return -ENOENT;
  if (!it->second.blocks.empty()) return -ENOTEMPTY;
  inodes_.Remove(it->second.ino);
  vms_.erase(it);
  return 0;
}

int Registry::Unlink(Ino parent, const std::string& name) {
  std::lock_guard lock(mu_);
  const InodeTable::Node* p = inodes_.Find(parent);
  if (p == nullptr || p->ref.kind != NodeRef::Kind::kVm) return -ENOENT;
  auto vm = vms_.find(p->ref.vm);
  if (vm == vms_.end()) return -ENOENT;
  auto b = vm->second.blocks.find(name);
  if (b == vm->second.blocks.end()) return -ENOENT;
  Block& block = *b->second.block;
  if (block.state() != IncarnationState::kStored || b->second.writers > 0) {
    spdlog::warn(
        "unlink {}/{}: refused, the block is {} (only a stored incarnation can be "
        "removed; stop the VM first)",
        vm->first.ToString(), name, IncarnationStateName(block.state()));
    return -EBUSY;
  }
  if (Status s = DropBlock(*store_, *pages_, block); !s.ok()) {
    spdlog::error("unlink {}/{}: {}", vm->first.ToString(), name, s.message());
    return -EIO;
  }
  inodes_.Remove(b->second.ino);
  vm->second.blocks.erase(b);
  return 0;
}

int Registry::List(Ino dir, std::vector<std::pair<std::string, struct stat>>* out) const {
  std::lock_guard lock(mu_);
  const InodeTable::Node* node = inodes_.Find(dir);
  if (node == nullptr) return -ENOENT;
  out->clear();
  if (node->ref.kind == NodeRef::Kind::kRoot) {
    for (const auto& [vm, entry] : vms_) {
      struct stat st {};
      FillAttrLocked(entry.ino, *inodes_.Find(entry.ino), &st);
      out->emplace_back(vm.ToString(), st);
    }
    return 0;
  }
  if (node->ref.kind != NodeRef::Kind::kVm) return -ENOTDIR;
  auto vm = vms_.find(node->ref.vm);
  if (vm == vms_.end()) return 0;
  for (const auto& [name, entry] : vm->second.blocks) {
    struct stat st {};
    FillAttrLocked(entry.ino, *inodes_.Find(entry.ino), &st);
    out->emplace_back(name, st);
  }
  return 0;
}

int Registry::Create(Ino parent, const std::string& name, Entry* entry, OpenResult* out) {
  std::unique_lock lock(mu_);
  const InodeTable::Node* p = inodes_.Find(parent);
  if (p == nullptr) return -ENOENT;
  if (p->ref.kind != NodeRef::Kind::kVm) {
    spdlog::warn("create {}: files live in a VM directory (<mount>/<vm-uuid>/{})", name, name);
    return -EPERM;
  }
  if (Status s = ValidateBlockName(name); !s.ok()) {
    spdlog::warn("create {}: refused: {}", name, s.message());
    return -EINVAL;
  }
  const Uuid vm_id = p->ref.vm;
  VmEntry& vm = vms_.at(vm_id);
  if (vm.blocks.count(name)) return -EEXIST;
  Result<std::shared_ptr<Block>> block =
      NewBlockLocked(vm_id, name, StartOfNewBlock(vm.arrival, MetasOf(vm)));
  if (!block.ok()) {
    spdlog::error("create {}/{}: {}", vm_id.ToString(), name, block.status().message());
    return -EIO;
  }
  BlockEntry& b = vm.blocks[name];
  b.block = *block;
  b.writers = 1;
  b.ino = inodes_.Add(NodeRef{NodeRef::Kind::kBlock, vm_id, name});
  ReplyEntryLocked(b.ino, entry);
  out->block = b.block;
  out->writer = true;
  out->keep_cache = !vm.arrival;
  spdlog::info("{}/{}: created, {}", vm_id.ToString(), name,
               vm.arrival ? "incoming (a migration is arriving)" : "live (cold boot, epoch 1)");
  return 0;
}

int Registry::Open(Ino ino, int flags, OpenResult* out) {
  std::unique_lock lock(mu_);
  const InodeTable::Node* n = inodes_.Find(ino);
  if (n == nullptr) return -ENOENT;
  if (n->ref.kind != NodeRef::Kind::kBlock) return -EISDIR;
  VmEntry& vm = vms_.at(n->ref.vm);
  BlockEntry& b = vm.blocks.at(n->ref.block);
  Block& block = *b.block;
  const std::string name = n->ref.vm.ToString() + "/" + n->ref.block;
  const bool writer = (flags & O_ACCMODE) != O_RDONLY;
  out->block = b.block;
  out->writer = writer;
  if (flags & O_TRUNC) {
    spdlog::warn("open {}: O_TRUNC refused: a RAM block's size is fixed", name);
    return -EPERM;
  }
  if (!writer) {
    out->direct_io = block.state() != IncarnationState::kLive;
    out->keep_cache = block.state() == IncarnationState::kLive;
    return 0;
  }
  if (b.writers > 0) {
    spdlog::warn(
        "open {} for writing: refused, it is already open for writing (another QEMU "
        "runs this VM here?)",
        name);
    return -EBUSY;
  }
  const IncarnationMeta meta = block.meta();
  const OpenDecision decision = DecideWriterOpen(meta, vm.arrival, MetasOf(vm));
  if (decision.action != OpenDecision::Action::kKeep) {
    const bool reuse = decision.action == OpenDecision::Action::kReuse;
    const bool incoming = decision.start.state == IncarnationState::kIncoming;
    IncarnationKey key = meta.key;
    key.incarnation = NextIncarnationLocked(meta.key.vm, meta.key.block);
    Status s = pages_->Rename(block.file(), key);
    if (s.ok() && !reuse) {
      s = block.ResetForColdBoot(key, decision.start.lineage);
      // ResetForColdBoot leaves it live; an arrival wants it incoming.
      if (s.ok() && incoming) s = block.Leave(0);
    }
    if (s.ok() && incoming) s = block.BeginIncoming(key.incarnation, decision.start.epoch);
    if (s.ok()) s = ReplaceRecordLocked(block, meta.key);
    if (!s.ok()) {
      spdlog::error("open {}: {}", name, s.message());
      return -EIO;
    }
    if (reuse) {
      spdlog::info("{}: VM arriving, reusing stored incarnation {} as incarnation {}", name,
                   meta.key.incarnation, key.incarnation);
    } else {
      spdlog::info("{}: {}: stored incarnation {} dropped, starting empty as incarnation {}", name,
                   incoming ? "arrival of another life of the VM" : "cold boot",
                   meta.key.incarnation, key.incarnation);
    }
  }
  ++b.writers;
  out->keep_cache = block.state() == IncarnationState::kLive;
  return 0;
}

void Registry::Release(Ino ino, bool writer) {
  std::vector<Ino> invalidate;
  std::vector<ParkedRead> parked;
  std::shared_ptr<Block> left;
  IncarnationKey left_key;
  {
    std::lock_guard lock(mu_);
    if (!writer) return;
    BlockEntry* b = FindBlockLocked(ino);
    if (b == nullptr) return;
    if (b->writers > 0) --b->writers;
    if (b->writers > 0) return;
    Block& block = *b->block;
    if (block.state() != IncarnationState::kLive) return;
    // A post-copy that had not finished: the pages that never came are not the VM's.
    std::shared_ptr<Postcopy> pc = block.postcopy();
    if (pc && pc->active()) {
      spdlog::error("{}: the VM stopped with {} pages still at the source; they are invalid here",
                    DescribeIncarnation(block.meta().key), pc->missing());
      parked = block.FailPostcopy("the VM stopped before all its pages arrived");
    }
    // The VM left this host (its QEMU exited): keep its memory as a stored incarnation. The
    // record (digests, table) is written below, without mu_: other VMs do not wait for it.
    if (Status s = block.Leave(NowUnixMs()); !s.ok()) {
      spdlog::error("{}: leaving: {}", DescribeIncarnation(block.meta().key), s.message());
    } else {
      block.SetRecordState(Block::RecordState::kSaving);
      left = b->block;
      left_key = block.meta().key;
    }
    invalidate.push_back(ino);
  }
  CompleteReads(parked, EIO);
  InvalidateCache(invalidate);
  if (left) StoreAndLog(*store_, *left, left_key, "the VM left");
  EnforceBudget();
}

int Registry::SetSize(Ino ino, uint64_t bytes) {
  std::shared_ptr<Block> block = FindBlock(ino);
  if (!block) return -EISDIR;
  const uint64_t before = block->size();
  if (bytes > options_.max_file_bytes && bytes != before) {
    spdlog::warn(
        "truncate {}/{} to {} bytes: refused (EFBIG): the largest RAM file is {} bytes "
        "(--max-file-size)",
        block->meta().key.vm.ToString(), block->meta().key.block, bytes, options_.max_file_bytes);
    return -EFBIG;
  }
  int rc = block->SetSize(bytes);
  if (rc < 0) {
    spdlog::warn(
        "truncate {} to {} bytes: refused ({}): a RAM block's size is set once, in "
        "whole 4 KiB pages, up to 1 TiB",
        block->meta().key.block, bytes, strerror(-rc));
    return rc;
  }
  if (before != bytes) {
    if (Status s = PersistRecord(*store_, *block); !s.ok()) {
      spdlog::error("truncate: {}", s.message());
      return -EIO;
    }
  }
  return 0;
}

}  // namespace mkd::memfs
