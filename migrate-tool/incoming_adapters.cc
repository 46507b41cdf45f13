// The real destination ports: mount, qemu-config, QMP (see incoming_adapters.h).
#include "migrate-tool/incoming_adapters.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "memfs-protocol/arrival.h"
#include "memfs-protocol/names.h"
#include "migrate-tool/content_files_mount.h"
#include "migrate-tool/content_index.h"
#include "qemu-config/command_line.h"
#include "qemu-config/qmp/client.h"
#include "qemu-config/qmp/migration.h"
#include "qemu-config/vm_control.h"

namespace mkd::migrate {
namespace {

class MountRam final : public IncomingRam {
 public:
  explicit MountRam(RamFile ram) : ram_(std::move(ram)) {}
  Result<RamFileSummary> Summary() override { return ram_.Summary(); }
  Result<std::string> TableBlob() override { return ram_.TableBlob(); }
  Status ReceiveZeros(uint64_t first, uint64_t count, Generation gen) override {
    return ram_.ReceiveZeros(first, count, gen);
  }
  Status ReceiveRuns(const std::vector<memfs_protocol::LaterRun>& runs,
                     std::string_view data) override {
    return ram_.ReceiveRuns(runs, data);
  }
  Status ReceiveLater(const std::vector<GenRun>& runs) override { return ram_.ReceiveLater(runs); }
  Result<std::string> DigestsBlob() override { return ram_.DigestsBlob(); }
  Result<std::string> DirtyBlob() override { return ram_.DirtyBlob(); }
  Status Fsync() override { return ram_.Fsync(); }
  Result<WantedPages> TakeWanted() override { return ram_.TakeWanted(); }
  Result<PostcopyStatus> Postcopy() override { return ram_.Postcopy(); }
  Status FailPostcopy(std::string_view reason) override { return ram_.FailPostcopy(reason); }

 private:
  RamFile ram_;
};

class MountVmDir final : public IncomingMemfs {
 public:
  explicit MountVmDir(qemuconfig::VmPaths paths) : paths_(std::move(paths)) {}
  Status Arrive(Epoch epoch, const Uuid& lineage) override {
    std::error_code ec;
    std::filesystem::create_directories(paths_.memory_dir, ec);
    if (ec) return Status::Io(paths_.memory_dir + ": " + ec.message());
    return SetVmDirXattr(paths_.memory_dir, memfs_protocol::kArrive,
                         memfs_protocol::FormatArrival({epoch, lineage}));
  }
  Status PrepareRam(uint64_t bytes) override {
    const std::string& path = paths_.memory_file;
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Status::Io("opening " + path + " for writing: " + std::strerror(errno));
    struct stat st {};
    Status s;
    if (::fstat(fd, &st) != 0) {
      s = Status::Io(path + ": " + std::strerror(errno));
    } else if (st.st_size == 0) {
      if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
        s = Status::Io("sizing " + path + " to " + std::to_string(bytes) +
                       " bytes: " + std::strerror(errno));
      }
    } else if (static_cast<uint64_t>(st.st_size) != bytes) {
      s = Status::FailedPrecondition(path + " is " + std::to_string(st.st_size) +
                                     " bytes, the VM's RAM " + std::to_string(bytes));
    }
    ::close(fd);
    return s;
  }
  Status Commit() override {
    return SetVmDirXattr(paths_.memory_dir, memfs_protocol::kCommit, memfs_protocol::kTriggerValue);
  }
  Status Abort() override {
    return SetVmDirXattr(paths_.memory_dir, memfs_protocol::kAbort, memfs_protocol::kTriggerValue);
  }
  Result<std::unique_ptr<IncomingRam>> OpenRam() override {
    MKD_ASSIGN_OR_RETURN(RamFile ram, RamFile::Open(paths_.memory_file));
    return std::unique_ptr<IncomingRam>(std::make_unique<MountRam>(std::move(ram)));
  }
  Result<bool> HasRam() override {
    std::error_code ec;
    const bool there = std::filesystem::exists(paths_.memory_file, ec);
    if (ec) return Status::Io(paths_.memory_file + ": " + ec.message());
    return there;
  }

 private:
  qemuconfig::VmPaths paths_;
};

class QmpMonitor final : public IncomingMonitor {
 public:
  explicit QmpMonitor(qmp::QmpClient qmp) : qmp_(std::move(qmp)) {}
  Status EnableIgnoreShared() override {
    return qmp::SetMigrationCapabilities(qmp_, {{qmp::MigrationCapability::kXIgnoreShared, true}});
  }
  Status ListenForMigration(const std::string& socket_path) override {
    ::unlink(socket_path.c_str());
    return qmp::MigrateIncoming(qmp_, "unix:" + socket_path);
  }
  Result<qmp::VmStatus> QueryStatus() override { return qmp_.QueryStatus(); }
  bool connected() const override { return qmp_.connected(); }
  void Close() override { qmp_.Close(); }

 private:
  qmp::QmpClient qmp_;
};

// The VM's QMP monitor at <run_dir>/<uuid>/qmp.sock, whoever started its QEMU.
Result<std::unique_ptr<IncomingMonitor>> ConnectVmMonitor(const qemuconfig::VmDefinition& def,
                                                          std::chrono::milliseconds timeout) {
  MKD_ASSIGN_OR_RETURN(qmp::QmpClient q,
                       qmp::QmpClient::Connect(qemuconfig::PathsFor(def).qmp_socket, timeout));
  return std::unique_ptr<IncomingMonitor>(std::make_unique<QmpMonitor>(std::move(q)));
}

class QemuConfigVm final : public IncomingQemu {
 public:
  QemuConfigVm(qemuconfig::VmDefinition def, qemuconfig::StartOptions start)
      : def_(std::move(def)), start_(std::move(start)) {}
  bool LibvirtStarts() const override { return false; }
  bool Running() override { return qemuconfig::RunningPid(def_).has_value(); }
  Status StartIncoming() override { return qemuconfig::StartVm(def_, start_).status(); }
  Result<std::unique_ptr<IncomingMonitor>> ConnectMonitor(
      std::chrono::milliseconds timeout) override {
    return ConnectVmMonitor(def_, timeout);
  }
  Status Stop() override { return qemuconfig::StopVm(def_, std::chrono::seconds(5)); }

 private:
  qemuconfig::VmDefinition def_;
  qemuconfig::StartOptions start_;
};

// A libvirt domain's QEMU: libvirt starts it (with mkd-libvirt's <qemu:commandline>, so it has
// our monitor at <run_dir>/<uuid>/qmp.sock); serve only talks to it, and stops it with `quit`
// when the switchover failed after the commit.
class LibvirtQemu final : public IncomingQemu {
 public:
  explicit LibvirtQemu(qemuconfig::VmDefinition def) : def_(std::move(def)) {}
  bool LibvirtStarts() const override { return true; }
  bool Running() override {
    // Our monitor answers: a QEMU of this VM runs here. (No socket: none runs; Connect would
    // wait for one to appear.)
    const std::string socket = qemuconfig::PathsFor(def_).qmp_socket;
    std::error_code ec;
    if (!std::filesystem::exists(socket, ec)) return false;
    return qmp::QmpClient::Connect(socket, std::chrono::milliseconds(500)).ok();
  }
  Status StartIncoming() override { return Status::Ok(); }  // libvirt's to do
  Result<std::unique_ptr<IncomingMonitor>> ConnectMonitor(
      std::chrono::milliseconds timeout) override {
    return ConnectVmMonitor(def_, timeout);
  }
  Status Stop() override {
    Result<qmp::QmpClient> q =
        qmp::QmpClient::Connect(qemuconfig::PathsFor(def_).qmp_socket, std::chrono::seconds(2));
    if (!q.ok()) return Status::NotFound("QEMU of " + def_.name + " does not run");
    // libvirt sees its QEMU quit and ends the domain (and its migration) on this host.
    (void)q->Execute("quit");
    return Status::Ok();
  }

 private:
  qemuconfig::VmDefinition def_;
};

// The pages of one memfs mount by content, for one arrival: each lookup takes the mount's current
// index from the cache (rebuilt when older than its age), so a session holds no index between
// lookups and the host's memory for indexes stays at most two per mount (content_index.h).
// `except_vm`: that VM's RAM file is left out of the lookups (a plan whose arrival would drop it).
class MountContent final : public IncomingContent {
 public:
  explicit MountContent(std::shared_ptr<ContentIndexCache> cache,
                        std::optional<Uuid> except_vm = std::nullopt)
      : cache_(std::move(cache)), except_vm_(except_vm) {}
  ~MountContent() override {
    if (warm_.valid()) warm_.wait();
  }
  void Prefetch() override {
    if (cache_ && !warm_.valid()) {
      warm_ = std::async(std::launch::async, [cache = cache_] { cache->Get(); });
    }
  }
  bool Find(uint64_t digest, const Sha256& sha, char* out) override {
    if (!cache_) return false;
    const auto t0 = std::chrono::steady_clock::now();
    std::shared_ptr<const ContentIndex> index = cache_->Get();
    index_wait_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (index.get() != last_index_) {
      last_index_ = index.get();
      except_file_ = ContentIndex::kNoFile;
      for (size_t i = 0; except_vm_ && i < index->files().size(); ++i) {
        if (MountContentFiles::VmOf(index->files()[i]) == except_vm_) {
          except_file_ = static_cast<uint32_t>(i);
        }
      }
      index_note_ = std::to_string(index->entries().size()) + " pages of " +
                    std::to_string(index->files().size() - index->files_skipped()) +
                    " RAM files indexed (" + std::to_string(index->files_skipped()) +
                    " unreadable" + (index->truncated() ? ", truncated" : "") + ")";
    }
    return index->Resolve(reader_, digest, sha, out, &stats_, except_file_);
  }
  std::string Summary() const override {
    if (!cache_) return "reuse by content is off here (serve --content-index-pages 0)";
    return index_note_ + fmt::format(", {:.3f} s waiting for it", index_wait_) + "; " +
           std::to_string(stats_.hits) + " found in " + std::to_string(stats_.lookups) +
           " lookups; " + std::to_string(stats_.candidates) + " candidates read, " +
           std::to_string(stats_.stale) + " changed since indexed, " +
           std::to_string(stats_.collisions) + " with another content, " +
           std::to_string(stats_.read_errors) + " unreadable; " +
           fmt::format("{:.3f} s reading, {:.3f} s hashing", stats_.read_seconds,
                       stats_.hash_seconds);
  }

 private:
  std::shared_ptr<ContentIndexCache> cache_;  // null: reuse by content is off
  std::optional<Uuid> except_vm_;
  const ContentIndex* last_index_ = nullptr;  // the index Find used last (for index_note_)
  uint32_t except_file_ = ContentIndex::kNoFile;  // except_vm_'s file in last_index_
  std::string index_note_ = "no index";
  std::future<void> warm_;  // Prefetch's build
  double index_wait_ = 0;   // Find waiting for the index (its build, after Prefetch's start)
  MountPageReader reader_;
  ResolveStats stats_;
};

class LocalHost final : public IncomingHost {
 public:
  explicit LocalHost(LocalHostOptions o) : o_(std::move(o)) {
    if (o_.content_scope == ContentScope::kHost && o_.content_index_pages > 0 &&
        o_.content_index_refresh.count() > 0) {
      refresher_ = std::thread([this] { RefreshLoop(); });
    }
  }
  ~LocalHost() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (refresher_.joinable()) refresher_.join();
  }
  std::string DefinitionPath(const Uuid& vm) const override {
    return o_.vm_dir + "/" + vm.ToString() + ".json";
  }
  Result<std::optional<qemuconfig::VmDefinition>> LoadDefinition(const Uuid& vm) override {
    const std::string path = DefinitionPath(vm);
    if (!std::filesystem::exists(path)) return std::optional<qemuconfig::VmDefinition>();
    MKD_ASSIGN_OR_RETURN(qemuconfig::VmDefinition def, qemuconfig::LoadVmDefinition(path));
    return std::optional<qemuconfig::VmDefinition>(std::move(def));
  }
  std::unique_ptr<IncomingMemfs> MemfsFor(const qemuconfig::VmDefinition& def) override {
    return std::make_unique<MountVmDir>(qemuconfig::PathsFor(def));
  }
  std::unique_ptr<IncomingQemu> QemuFor(const qemuconfig::VmDefinition& def) override {
    if (def.manager == qemuconfig::VmManager::kLibvirt) return std::make_unique<LibvirtQemu>(def);
    qemuconfig::StartOptions so;
    so.incoming = true;
    so.accel = o_.accel;
    so.accel_cache = o_.accel_cache;
    so.qemu_binary = o_.qemu_binary;
    return std::make_unique<QemuConfigVm>(def, so);
  }
  std::unique_ptr<IncomingContent> ContentFor(const qemuconfig::VmDefinition& def,
                                              bool own_file) override {
    if (o_.content_index_pages == 0) return std::make_unique<MountContent>(nullptr);
    const std::string root = def.memory_dir;
    const Uuid vm = def.uuid;
    if (o_.content_scope == ContentScope::kVm) {
      // An index of this session's own, gone when it ends: the VM's own file, or nothing (a plan
      // whose arrival would drop that file).
      return std::make_unique<MountContent>(std::make_shared<ContentIndexCache>(
          [root, vm, own_file]() -> std::unique_ptr<ContentFiles> {
            if (!own_file) return nullptr;  // an empty index
            return std::make_unique<MountContentFiles>(root, vm);
          },
          o_.content_index_pages, o_.content_index_age));
    }
    // Scope host: the mount's shared index, without the VM's own file when it does not count.
    std::lock_guard lock(mu_);
    return std::make_unique<MountContent>(MountCache(root),
                                          own_file ? std::nullopt : std::optional<Uuid>(vm));
  }

 private:
  // The host-scope index cache of the memfs mount at `root` (created on first use). mu_ held.
  std::shared_ptr<ContentIndexCache> MountCache(const std::string& root) {
    std::shared_ptr<ContentIndexCache>& cache = caches_[root];
    if (!cache) {
      cache = std::make_shared<ContentIndexCache>(
          [root] { return std::make_unique<MountContentFiles>(root); }, o_.content_index_pages,
          o_.content_index_age);
    }
    return cache;
  }

  // The memfs mounts of the definitions in vm_dir now (unreadable definitions are skipped).
  std::vector<std::string> DefinedMounts() const {
    std::vector<std::string> roots;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(o_.vm_dir, ec)) {
      if (entry.path().extension() != ".json") continue;
      Result<qemuconfig::VmDefinition> def = qemuconfig::LoadVmDefinition(entry.path().string());
      if (def.ok() && def->backing == qemuconfig::MemoryBacking::kMemfs) {
        roots.push_back(def->memory_dir);
      }
    }
    return roots;
  }

  // serve --content-index-refresh: rebuilds every mount's index each period, on this thread,
  // until the destructor stops it. A definition added meanwhile joins at the next period.
  void RefreshLoop() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      const std::vector<std::string> roots = DefinedMounts();
      lock.lock();
      std::vector<std::shared_ptr<ContentIndexCache>> caches;
      for (const std::string& root : roots) MountCache(root);
      for (const auto& [root, cache] : caches_) caches.push_back(cache);
      lock.unlock();
      for (const auto& cache : caches) cache->Refresh();
      lock.lock();
      wake_.wait_for(lock, o_.content_index_refresh, [this] { return stop_; });
    }
  }

  LocalHostOptions o_;
  std::mutex mu_;  // guards caches_ and stop_: sessions ask for content from their own threads
  std::map<std::string, std::shared_ptr<ContentIndexCache>> caches_;  // by memfs mount
  bool stop_ = false;
  std::condition_variable wake_;  // the refresher waits on it for the next period or the stop
  std::thread refresher_;         // serve --content-index-refresh's, when on
};

}  // namespace

std::unique_ptr<IncomingHost> NewLocalHost(LocalHostOptions options) {
  return std::make_unique<LocalHost>(std::move(options));
}

}  // namespace mkd::migrate
