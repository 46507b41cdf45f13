// Registry: namespace, incarnation lifecycle, persistence, budget and restart (see registry.h).
#include "memfs/registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>

#include "genstore/codec_header.h"
#include "memfs-protocol/names.h"

namespace mkd::memfs {
namespace {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Describe(const IncarnationKey& key) {
  return "VM " + key.vm.ToString() + " block " + key.block + " incarnation " +
         std::to_string(key.incarnation);
}

// VM directory names are UUIDs in their canonical lower-case form.
bool ParseVmName(const std::string& name, Uuid* out) {
  Result<Uuid> u = Uuid::Parse(name);
  if (!u.ok() || u->ToString() != name) return false;
  *out = *u;
  return true;
}

// The lineage for a block that cold-boots. A VM's RAM blocks share one lineage (an arrival names
// one for all of them), and QEMU opens them one after the other: a block opened while another
// block of the VM is live in its first epoch joins that cold boot. Otherwise this is a new life
// and gets a new lineage (a block added to a VM that arrived in a later epoch starts its own life,
// so that its epoch-1 generations can never equal those of an older copy of that block).
template <typename BlockEntries>
Uuid LineageOfThisLife(const BlockEntries& blocks) {
  for (const auto& [name, b] : blocks) {
    const IncarnationMeta m = b.block->meta();
    if (m.state == IncarnationState::kLive && m.epoch == kFirstEpoch) return m.lineage;
  }
  return Uuid::Random();
}

}  // namespace

Registry::Registry(Store* store, RegistryOptions options)
    : store_(store), options_(std::move(options)), start_unix_ms_(NowUnixMs()) {
  nodes_[kRootIno] = Node{NodeRef{}, 1, false};
}

std::string Registry::StorePath(const IncarnationKey& key) const {
  return options_.store_dir + "/" + key.vm.ToString() + "/" + key.block + "." +
         std::to_string(key.incarnation);
}

uint64_t Registry::NextIncarnationLocked(const Uuid& vm, const std::string& block) {
  return ++last_incarnation_[{vm, block}];
}

Ino Registry::NewInodeLocked(NodeRef ref) {
  Ino ino = next_ino_++;
  nodes_[ino] = Node{std::move(ref), 0, false};
  return ino;
}

// ---------------------------------------------------------------- restart

Status Registry::Recover() {
  std::lock_guard lock(mu_);
  Result<std::vector<IncarnationMeta>> all = store_->List();
  if (!all.ok()) return all.status().WithContext("reading the incarnation store");
  // The newest stored incarnation of each block is kept; everything else goes.
  std::map<std::pair<Uuid, std::string>, IncarnationMeta> keep;
  std::vector<IncarnationMeta> drop;
  for (const IncarnationMeta& m : *all) {
    auto id = std::make_pair(m.key.vm, m.key.block);
    uint64_t& last = last_incarnation_[id];
    last = std::max(last, m.key.incarnation);
    if (m.state != IncarnationState::kStored) {
      spdlog::warn("{}: was {} when the daemon stopped; its memory is not trustworthy, dropped",
                   Describe(m.key), IncarnationStateName(m.state));
      drop.push_back(m);
      continue;
    }
    auto [it, inserted] = keep.emplace(id, m);
    if (!inserted) {
      const bool newer = m.key.incarnation > it->second.key.incarnation;
      drop.push_back(newer ? it->second : m);
      if (newer) it->second = m;
    }
  }
  for (const IncarnationMeta& m : drop) {
    (void)store_->Delete(m.key);
    ::unlink(StorePath(m.key).c_str());
  }
  std::set<std::string> referenced;
  for (auto& [id, m] : keep) {
    const std::string path = StorePath(m.key);
    auto fail = [&](const std::string& why) {
      spdlog::warn("{}: {}; dropped", Describe(m.key), why);
      (void)store_->Delete(m.key);
      ::unlink(path.c_str());
    };
    Result<Incarnation> inc = store_->Get(m.key);
    if (!inc.ok()) {
      fail(inc.status().message());
      continue;
    }
    if (!inc->digests || inc->digests->pages() != inc->table.pages()) {
      fail("no page digests recorded, its content cannot be checked");
      continue;
    }
    Result<PageFile> file = PageFile::Open(path, /*create=*/false);
    if (!file.ok()) {
      fail("its page-store file is missing (was the host or the tmpfs restarted?)");
      continue;
    }
    struct stat st {};
    if (::fstat(file->fd(), &st) != 0 ||
        static_cast<uint64_t>(st.st_size) != inc->table.pages() * kPageSize) {
      fail("its page-store file has the wrong size");
      continue;
    }
    auto block = std::make_shared<Block>(inc->meta, std::move(inc->table), std::move(*file));
    Result<uint64_t> bad = block->VerifyDigests(*inc->digests);
    if (!bad.ok()) {
      fail(bad.status().message());
      continue;
    }
    block->SetDigests(std::move(*inc->digests));
    if (*bad > 0) {
      spdlog::warn("{}: {} pages did not match their digests; they are invalid now",
                   Describe(m.key), *bad);
      if (Status s = PersistRecord(*block); !s.ok()) {
        fail(s.message());
        continue;
      }
    }
    referenced.insert(path);
    VmEntry& vm = vms_[m.key.vm];
    if (vm.ino == 0) vm.ino = NewInodeLocked(NodeRef{NodeRef::Kind::kVm, m.key.vm, ""});
    BlockEntry& entry = vm.blocks[m.key.block];
    entry.ino = NewInodeLocked(NodeRef{NodeRef::Kind::kBlock, m.key.vm, m.key.block});
    entry.block = std::move(block);
    spdlog::info("{}: stored incarnation recovered ({} pages, {} mismatching)", Describe(m.key),
                 m.pages, *bad);
  }
  // Page-store files no record names are left-overs of a crash: free them.
  if (DIR* d = ::opendir(options_.store_dir.c_str())) {
    while (dirent* vm_dir = ::readdir(d)) {
      Uuid vm;
      if (!ParseVmName(vm_dir->d_name, &vm)) continue;
      const std::string vm_path = options_.store_dir + "/" + vm_dir->d_name;
      if (DIR* files = ::opendir(vm_path.c_str())) {
        while (dirent* f = ::readdir(files)) {
          if (f->d_name[0] == '.') continue;  // also the store's lock file (dir_lock.h)
          const std::string path = vm_path + "/" + f->d_name;
          if (!referenced.count(path)) {
            spdlog::info("page store: removing {} (no incarnation names it)", path);
            ::unlink(path.c_str());
          }
        }
        ::closedir(files);
      }
    }
    ::closedir(d);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- persistence

Status Registry::PersistRecord(Block& block) {
  std::lock_guard persist(block.persist_mu());
  if (block.dropped()) return Status::Ok();
  Block::Record r = block.PersistView(NowUnixMs());
  Status s = store_->Put(r.meta, r.table, r.digests ? &*r.digests : nullptr);
  block.SetRecordState(s.ok() ? Block::RecordState::kSaved : Block::RecordState::kFailed);
  return s;
}

Status Registry::StoreLeftBlock(Block& block, const IncarnationKey& key) {
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
  Status s = store_->Put(r->meta, r->table, &*r->digests);
  block.SetRecordState(s.ok() ? Block::RecordState::kSaved : Block::RecordState::kFailed);
  return s;
}

void Registry::StoreAndLog(Block& block, const IncarnationKey& key, std::string_view event) {
  const auto t0 = std::chrono::steady_clock::now();
  const Status s = StoreLeftBlock(block, key);
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
        Describe(key), event, s.message());
  } else {
    spdlog::info("{}: {}; stored (epoch {}, {} pages, record written in {} ms)", Describe(key),
                 event, meta.epoch, meta.pages, ms);
  }
}

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
    Status s =
        stored && !block->has_digests() ? StoreLeftBlock(*block, meta.key) : PersistRecord(*block);
    if (s.ok()) {
      ++saved;
      spdlog::info("{}: record written to the database after all ({})", Describe(meta.key),
                   IncarnationStateName(meta.state));
    } else {
      spdlog::debug("{}: writing the record failed again: {}", Describe(meta.key), s.message());
    }
  }
  return saved;
}

Status Registry::DropLocked(Block& block) {
  std::lock_guard persist(block.persist_mu());
  const IncarnationKey key = block.meta().key;
  Status s = store_->Delete(key);
  if (!s.ok() && s.code() != ErrorCode::kNotFound) return s;
  block.MarkDropped();
  if (int rc = block.file().Unlink(); rc < 0 && rc != -ENOENT) {
    return Status::Io("page store: removing " + block.file().path() + ": " + strerror(-rc));
  }
  return Status::Ok();
}

Result<std::shared_ptr<Block>> Registry::NewBlockLocked(const Uuid& vm, const std::string& name,
                                                        IncarnationState state, Epoch epoch,
                                                        const Uuid& lineage) {
  IncarnationMeta meta;
  meta.key = IncarnationKey{vm, name, NextIncarnationLocked(vm, name)};
  meta.state = state;
  meta.epoch = epoch;
  meta.lineage = lineage;
  meta.host_id = store_->host_id();
  const std::string dir = options_.store_dir + "/" + vm.ToString();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::Io("page store: creating " + dir + ": " + strerror(errno));
  }
  Result<PageFile> file = PageFile::Open(StorePath(meta.key), /*create=*/true);
  if (!file.ok()) return file.status();
  if (file->Resize(0) < 0) return Status::Io("page store: truncating " + file->path());
  auto block = std::make_shared<Block>(meta, GenerationTable(0), std::move(*file));
  MKD_RETURN_IF_ERROR(PersistRecord(*block));
  return block;
}

Status Registry::RenameStoreFile(Block& block, const IncarnationKey& key) const {
  if (int rc = block.file().Rename(StorePath(key)); rc < 0) {
    return Status::Io("renaming its page-store file: " + std::string(strerror(-rc)));
  }
  return Status::Ok();
}

Status Registry::ReplaceRecordLocked(Block& block, const IncarnationKey& old_key) {
  MKD_RETURN_IF_ERROR(PersistRecord(block));
  return store_->Delete(old_key);
}

void Registry::InvalidateCache(const std::vector<Ino>& inos) {
  if (!invalidate_) return;
  for (Ino ino : inos) invalidate_(ino);
}

// ---------------------------------------------------------------- namespace

void Registry::FillAttrLocked(Ino ino, const Node& node, struct stat* st) const {
  const AccessPolicy& access = options_.access;
  *st = {};
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
}

int Registry::Resolve(Ino ino, NodeRef* out) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return -ENOENT;
  *out = it->second.ref;
  return 0;
}

std::shared_ptr<Block> Registry::FindBlock(Ino ino) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end() || it->second.ref.kind != NodeRef::Kind::kBlock) return nullptr;
  auto vm = vms_.find(it->second.ref.vm);
  if (vm == vms_.end()) return nullptr;
  auto b = vm->second.blocks.find(it->second.ref.block);
  if (b == vm->second.blocks.end() || b->second.ino != ino) return nullptr;
  return b->second.block;
}

int Registry::Lookup(Ino parent, const std::string& name, Entry* out) {
  std::lock_guard lock(mu_);
  auto p = nodes_.find(parent);
  if (p == nodes_.end()) return -ENOENT;
  Ino ino = 0;
  if (p->second.ref.kind == NodeRef::Kind::kRoot) {
    Uuid vm;
    if (!ParseVmName(name, &vm)) return -ENOENT;
    auto it = vms_.find(vm);
    if (it == vms_.end()) return -ENOENT;
    ino = it->second.ino;
  } else if (p->second.ref.kind == NodeRef::Kind::kVm) {
    auto vm = vms_.find(p->second.ref.vm);
    if (vm == vms_.end()) return -ENOENT;
    auto b = vm->second.blocks.find(name);
    if (b == vm->second.blocks.end()) return -ENOENT;
    ino = b->second.ino;
  } else {
    return -ENOTDIR;
  }
  Node& node = nodes_.at(ino);
  ++node.nlookup;
  out->ino = ino;
  FillAttrLocked(ino, node, &out->attr);
  return 0;
}

bool Registry::MaybeRemoveNodeLocked(Ino ino) {
  auto it = nodes_.find(ino);
  if (it == nodes_.end() || !it->second.removed || it->second.nlookup != 0) return false;
  nodes_.erase(it);
  return true;
}

bool Registry::Forget(Ino ino, uint64_t nlookup) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end() || ino == kRootIno) return false;
  if (it->second.nlookup < nlookup) {
    spdlog::error("kernel forgot inode {} {} times but it was looked up {} times", ino, nlookup,
                  it->second.nlookup);
    it->second.nlookup = 0;
  } else {
    it->second.nlookup -= nlookup;
  }
  return MaybeRemoveNodeLocked(ino);
}

int Registry::GetAttr(Ino ino, struct stat* out) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return -ENOENT;
  FillAttrLocked(ino, it->second, out);
  return 0;
}

int Registry::Mkdir(Ino parent, const std::string& name, Entry* out) {
  std::lock_guard lock(mu_);
  if (parent != kRootIno) {
    spdlog::warn("mkdir {}: directories exist only at the top level, one per VM", name);
    return -EPERM;
  }
  Uuid vm;
  if (!ParseVmName(name, &vm)) {
    spdlog::warn(
        "mkdir {}: refused; a VM directory is named by the VM's UUID in lower case "
        "(e.g. 0b5c3bb0-6c2f-4d3e-9d7c-5a1e2f3a4b5c)",
        name);
    return -EINVAL;
  }
  if (vms_.count(vm)) return -EEXIST;
  VmEntry& entry = vms_[vm];
  entry.ino = NewInodeLocked(NodeRef{NodeRef::Kind::kVm, vm, ""});
  Node& node = nodes_.at(entry.ino);
  ++node.nlookup;
  out->ino = entry.ino;
  FillAttrLocked(entry.ino, node, &out->attr);
  return 0;
}

int Registry::Rmdir(Ino parent, const std::string& name) {
  std::lock_guard lock(mu_);
  Uuid vm;
  if (parent != kRootIno || !ParseVmName(name, &vm)) return -ENOENT;
  auto it = vms_.find(vm);
  if (it == vms_.end()) return -ENOENT;
  if (!it->second.blocks.empty()) return -ENOTEMPTY;
  Node& node = nodes_.at(it->second.ino);
  node.removed = true;
  MaybeRemoveNodeLocked(it->second.ino);
  vms_.erase(it);
  return 0;
}

int Registry::Unlink(Ino parent, const std::string& name) {
  std::lock_guard lock(mu_);
  auto p = nodes_.find(parent);
  if (p == nodes_.end() || p->second.ref.kind != NodeRef::Kind::kVm) return -ENOENT;
  auto vm = vms_.find(p->second.ref.vm);
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
  if (Status s = DropLocked(block); !s.ok()) {
    spdlog::error("unlink {}/{}: {}", vm->first.ToString(), name, s.message());
    return -EIO;
  }
  Node& node = nodes_.at(b->second.ino);
  node.removed = true;
  MaybeRemoveNodeLocked(b->second.ino);
  vm->second.blocks.erase(b);
  return 0;
}

int Registry::List(Ino dir, std::vector<std::pair<std::string, struct stat>>* out) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(dir);
  if (it == nodes_.end()) return -ENOENT;
  out->clear();
  if (it->second.ref.kind == NodeRef::Kind::kRoot) {
    for (const auto& [vm, entry] : vms_) {
      struct stat st {};
      FillAttrLocked(entry.ino, nodes_.at(entry.ino), &st);
      out->emplace_back(vm.ToString(), st);
    }
    return 0;
  }
  if (it->second.ref.kind != NodeRef::Kind::kVm) return -ENOTDIR;
  auto vm = vms_.find(it->second.ref.vm);
  if (vm == vms_.end()) return 0;
  for (const auto& [name, entry] : vm->second.blocks) {
    struct stat st {};
    FillAttrLocked(entry.ino, nodes_.at(entry.ino), &st);
    out->emplace_back(name, st);
  }
  return 0;
}

int Registry::Create(Ino parent, const std::string& name, Entry* entry, OpenResult* out) {
  std::unique_lock lock(mu_);
  auto p = nodes_.find(parent);
  if (p == nodes_.end()) return -ENOENT;
  if (p->second.ref.kind != NodeRef::Kind::kVm) {
    spdlog::warn("create {}: files live in a VM directory (<mount>/<vm-uuid>/{})", name, name);
    return -EPERM;
  }
  if (Status s = ValidateBlockName(name); !s.ok()) {
    spdlog::warn("create {}: refused: {}", name, s.message());
    return -EINVAL;
  }
  const Uuid vm_id = p->second.ref.vm;
  VmEntry& vm = vms_.at(vm_id);
  if (vm.blocks.count(name)) return -EEXIST;
  Result<std::shared_ptr<Block>> block =
      vm.arrival ? NewBlockLocked(vm_id, name, IncarnationState::kIncoming, vm.arrival->epoch,
                                  vm.arrival->lineage)
                 : NewBlockLocked(vm_id, name, IncarnationState::kLive, kFirstEpoch,
                                  LineageOfThisLife(vm.blocks));
  if (!block.ok()) {
    spdlog::error("create {}/{}: {}", vm_id.ToString(), name, block.status().message());
    return -EIO;
  }
  BlockEntry& b = vm.blocks[name];
  b.ino = NewInodeLocked(NodeRef{NodeRef::Kind::kBlock, vm_id, name});
  b.block = *block;
  b.writers = 1;
  Node& node = nodes_.at(b.ino);
  ++node.nlookup;
  entry->ino = b.ino;
  FillAttrLocked(b.ino, node, &entry->attr);
  out->block = b.block;
  out->writer = true;
  out->keep_cache = !vm.arrival;
  spdlog::info("{}/{}: created, {}", vm_id.ToString(), name,
               vm.arrival ? "incoming (a migration is arriving)" : "live (cold boot, epoch 1)");
  return 0;
}

int Registry::Open(Ino ino, int flags, OpenResult* out) {
  std::unique_lock lock(mu_);
  auto n = nodes_.find(ino);
  if (n == nodes_.end()) return -ENOENT;
  if (n->second.ref.kind != NodeRef::Kind::kBlock) return -EISDIR;
  VmEntry& vm = vms_.at(n->second.ref.vm);
  BlockEntry& b = vm.blocks.at(n->second.ref.block);
  Block& block = *b.block;
  const std::string name = n->second.ref.vm.ToString() + "/" + n->second.ref.block;
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
  const IncarnationState state = block.state();
  if (state == IncarnationState::kStored) {
    const IncarnationMeta meta = block.meta();
    if (vm.arrival && vm.arrival->lineage == meta.lineage) {
      // The VM returns: its stored incarnation is the base the migration compares against.
      const uint64_t inc = NextIncarnationLocked(meta.key.vm, meta.key.block);
      IncarnationKey key = meta.key;
      key.incarnation = inc;
      Status s = RenameStoreFile(block, key);
      if (s.ok()) s = block.BeginIncoming(inc, vm.arrival->epoch);
      if (s.ok()) s = ReplaceRecordLocked(block, meta.key);
      if (!s.ok()) {
        spdlog::error("open {}: {}", name, s.message());
        return -EIO;
      }
      spdlog::info("{}: VM arriving, reusing stored incarnation {} as incarnation {}", name,
                   meta.key.incarnation, inc);
    } else {
      // A cold boot (or an arrival of another life of the VM): the old memory means nothing.
      const Uuid lineage = vm.arrival ? vm.arrival->lineage : LineageOfThisLife(vm.blocks);
      IncarnationKey key = meta.key;
      key.incarnation = NextIncarnationLocked(meta.key.vm, meta.key.block);
      Status s = RenameStoreFile(block, key);
      if (s.ok()) s = block.ResetForColdBoot(key, lineage);
      if (s.ok() && vm.arrival) {
        // ResetForColdBoot leaves it live; an arrival wants it incoming.
        s = block.Leave(0);
        if (s.ok()) s = block.BeginIncoming(key.incarnation, vm.arrival->epoch);
      }
      if (s.ok()) s = ReplaceRecordLocked(block, meta.key);
      if (!s.ok()) {
        spdlog::error("open {}: {}", name, s.message());
        return -EIO;
      }
      spdlog::info("{}: {}: stored incarnation {} dropped, starting empty as incarnation {}", name,
                   vm.arrival ? "arrival of another life of the VM" : "cold boot",
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
    auto n = nodes_.find(ino);
    if (n == nodes_.end() || n->second.ref.kind != NodeRef::Kind::kBlock) return;
    auto vm = vms_.find(n->second.ref.vm);
    if (vm == vms_.end()) return;
    auto b = vm->second.blocks.find(n->second.ref.block);
    if (b == vm->second.blocks.end() || b->second.ino != ino) return;
    if (b->second.writers > 0) --b->second.writers;
    if (b->second.writers > 0) return;
    Block& block = *b->second.block;
    if (block.state() != IncarnationState::kLive) return;
    // A post-copy that had not finished: the pages that never came are not the VM's.
    std::shared_ptr<Postcopy> pc = block.postcopy();
    if (pc && pc->active()) {
      spdlog::error("{}: the VM stopped with {} pages still at the source; they are invalid here",
                    Describe(block.meta().key), pc->missing());
      parked = block.FailPostcopy("the VM stopped before all its pages arrived");
    }
    // The VM left this host (its QEMU exited): keep its memory as a stored incarnation. The
    // record (digests, table) is written below, without mu_: other VMs do not wait for it.
    if (Status s = block.Leave(NowUnixMs()); !s.ok()) {
      spdlog::error("{}: leaving: {}", Describe(block.meta().key), s.message());
    } else {
      block.SetRecordState(Block::RecordState::kSaving);
      left = b->second.block;
      left_key = block.meta().key;
    }
    invalidate.push_back(ino);
  }
  CompleteReads(parked, EIO);
  InvalidateCache(invalidate);
  if (left) StoreAndLog(*left, left_key, "the VM left");
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
    if (Status s = PersistRecord(*block); !s.ok()) {
      spdlog::error("truncate: {}", s.message());
      return -EIO;
    }
  }
  return 0;
}

// ---------------------------------------------------------------- lifecycle

Status Registry::Arrive(const Uuid& vm_id, const Arrival& arrival) {
  std::lock_guard lock(mu_);
  auto vm = vms_.find(vm_id);
  if (vm == vms_.end()) {
    return Status::NotFound("VM " + vm_id.ToString() + " has no directory here; mkdir it first");
  }
  if (!IsValidEpoch(arrival.epoch) || arrival.epoch > kMaxEpoch - kEpochHeadroom) {
    return Status::InvalidArgument("arrival: epoch " + std::to_string(arrival.epoch) +
                                   " is invalid or leaves no room for the next migrations");
  }
  for (const auto& [name, b] : vm->second.blocks) {
    IncarnationState st = b.block->state();
    if (st == IncarnationState::kLive || b.writers > 0) {
      return Status::FailedPrecondition("VM " + vm_id.ToString() + " block " + name + " is " +
                                        std::string(IncarnationStateName(st)) +
                                        " here: it cannot arrive while it runs on this host");
    }
    const IncarnationMeta m = b.block->meta();
    if (m.lineage != arrival.lineage) continue;  // another life: its memory will be dropped
    // Epochs only move forward within a life of the VM. The stored epoch may be one the source
    // reserved for itself when the VM left (advance to e + 2) and never wrote in, so an arrival
    // in it is fine; but not below it, and never at or below a generation a page here has: that
    // page would pass for one written in the new stay (docs/security.md, ordering).
    const Generation highest = b.block->HighestGeneration();
    if (arrival.epoch < m.epoch || arrival.epoch <= highest) {
      return Status::InvalidArgument(
          "arrival: VM " + vm_id.ToString() + " block " + name + " is stored here in epoch " +
          std::to_string(m.epoch) + " with pages of generation up to " + std::to_string(highest) +
          "; an arrival of the same lineage must come in a later epoch, not " +
          std::to_string(arrival.epoch));
    }
  }
  vm->second.arrival = arrival;
  spdlog::info("VM {}: arrival prepared (epoch {}, lineage {})", vm_id.ToString(), arrival.epoch,
               arrival.lineage.ToString());
  return Status::Ok();
}

std::optional<Arrival> Registry::PendingArrival(const Uuid& vm) const {
  std::lock_guard lock(mu_);
  auto it = vms_.find(vm);
  if (it == vms_.end()) return std::nullopt;
  return it->second.arrival;
}

Status Registry::Commit(const Uuid& vm_id) {
  std::vector<Ino> invalidate;
  {
    std::lock_guard lock(mu_);
    auto vm = vms_.find(vm_id);
    if (vm == vms_.end() || !vm->second.arrival) {
      return Status::FailedPrecondition("VM " + vm_id.ToString() +
                                        ": no arrival is pending, nothing to commit");
    }
    const bool any_incoming = std::any_of(
        vm->second.blocks.begin(), vm->second.blocks.end(),
        [](const auto& e) { return e.second.block->state() == IncarnationState::kIncoming; });
    if (!any_incoming) {
      // Nothing arrived (the destination QEMU never opened its RAM files): committing would
      // report a VM that is not here.
      return Status::FailedPrecondition("VM " + vm_id.ToString() +
                                        ": no RAM block is incoming, nothing to commit (abort "
                                        "the arrival, " +
                                        std::string(memfs_protocol::kAbort) + ")");
    }
    for (auto& [name, b] : vm->second.blocks) {
      if (b.block->state() != IncarnationState::kIncoming) continue;
      if (const uint64_t refused = b.block->counters().refused_writes; refused > 0) {
        // Pages the destination QEMU dirtied before commit stay dirty in its page cache, and
        // the invalidation below cannot drop a dirty page: say so loudly.
        spdlog::warn(
            "VM {} block {}: {} kernel write-backs were refused during the arrival "
            "(the destination QEMU wrote guest RAM before the commit)",
            vm_id.ToString(), name, refused);
      }
      MKD_RETURN_IF_ERROR(b.block->Commit(vm->second.arrival->epoch, options_.postcopy_lease));
      MKD_RETURN_IF_ERROR(PersistRecord(*b.block));
      invalidate.push_back(b.ino);
    }
    spdlog::info("VM {}: arrival committed (epoch {}, {} blocks)", vm_id.ToString(),
                 vm->second.arrival->epoch, invalidate.size());
    vm->second.arrival.reset();
  }
  // The destination QEMU must read the committed pages, not what its page cache holds.
  InvalidateCache(invalidate);
  return Status::Ok();
}

Status Registry::Abort(const Uuid& vm_id) {
  std::vector<std::pair<std::shared_ptr<Block>, IncarnationKey>> aborted;
  {
    std::lock_guard lock(mu_);
    auto vm = vms_.find(vm_id);
    if (vm == vms_.end() || !vm->second.arrival) {
      return Status::FailedPrecondition("VM " + vm_id.ToString() + ": no arrival is pending");
    }
    for (auto& [name, b] : vm->second.blocks) {
      if (b.block->state() != IncarnationState::kIncoming) continue;
      MKD_RETURN_IF_ERROR(b.block->Abort(NowUnixMs()));
      b.block->SetRecordState(Block::RecordState::kSaving);
      aborted.emplace_back(b.block, b.block->meta().key);
    }
    vm->second.arrival.reset();
    spdlog::info("VM {}: arrival aborted; pages received are invalid", vm_id.ToString());
  }
  // As when a VM leaves: digests and the record without mu_, so other VMs do not wait.
  for (const auto& [block, key] : aborted) StoreAndLog(*block, key, "arrival aborted");
  EnforceBudget();
  return Status::Ok();
}

Status Registry::AdvanceEpoch(const Uuid& vm_id, Epoch epoch) {
  std::lock_guard lock(mu_);
  auto vm = vms_.find(vm_id);
  if (vm == vms_.end()) return Status::NotFound("VM " + vm_id.ToString() + " is not here");
  size_t advanced = 0;
  for (auto& [name, b] : vm->second.blocks) {
    if (b.block->state() != IncarnationState::kLive) continue;
    MKD_RETURN_IF_ERROR(b.block->AdvanceEpoch(epoch));
    ++advanced;
  }
  if (advanced == 0) {
    return Status::FailedPrecondition("VM " + vm_id.ToString() + " does not run here");
  }
  spdlog::info("VM {}: goes on in epoch {}", vm_id.ToString(), epoch);
  return Status::Ok();
}

// ---------------------------------------------------------------- memory

uint64_t Registry::EvictLocked(uint64_t pages) {
  // Least recently left incarnation first (the paper's "not used recently", section 6.2).
  std::vector<std::pair<int64_t, Block*>> order;
  for (auto& [vm, entry] : vms_) {
    for (auto& [name, b] : entry.blocks) {
      if (b.block->state() == IncarnationState::kStored && b.writers == 0) {
        order.emplace_back(b.block->meta().left_unix_ms, b.block.get());
      }
    }
  }
  std::sort(order.begin(), order.end());
  uint64_t freed = 0;
  for (auto& [left, block] : order) {
    if (freed >= pages) break;
    Result<uint64_t> n = block->EvictColdest(pages - freed);
    if (!n.ok()) {
      spdlog::error("eviction: {}", n.status().message());
      continue;
    }
    if (*n == 0) continue;
    freed += *n;
    if (Status s = PersistRecord(*block); !s.ok()) {
      spdlog::error("eviction: persisting {}: {}", Describe(block->meta().key), s.message());
    }
    spdlog::info("eviction: {} pages of {} freed", *n, Describe(block->meta().key));
  }
  return freed;
}

void Registry::EnforceBudget() {
  std::lock_guard lock(mu_);
  if (options_.budget_bytes == UINT64_MAX) return;
  uint64_t held = 0;
  for (auto& [vm, entry] : vms_) {
    for (auto& [name, b] : entry.blocks) {
      if (b.block->state() != IncarnationState::kStored) continue;
      Result<uint64_t> r = b.block->ResidentPages();
      if (r.ok()) held += *r;
    }
  }
  const uint64_t budget_pages = options_.budget_bytes / kPageSize;
  if (held <= budget_pages) return;
  const uint64_t freed = EvictLocked(held - budget_pages);
  spdlog::info("budget: stored incarnations held {} pages over the budget of {} pages; {} freed",
               held - budget_pages, budget_pages, freed);
}

uint64_t Registry::FreeStoredMemory(uint64_t bytes) {
  std::lock_guard lock(mu_);
  return EvictLocked((bytes + kPageSize - 1) / kPageSize) * kPageSize;
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
