// mkd-memfs daemon lifecycle (see daemon.h).
#include "memfs/daemon.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "genstore/store.h"
#include "memfs/bdi.h"
#include "memfs/dir_lock.h"
#include "memfs/fuse_ops.h"
#include "memfs/registry.h"
#include "memfs/syncer.h"
#include "memfs/xattrs.h"

namespace mkd::memfs {
namespace {

void IgnoreSignal(int) {}

std::string NowText() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}", tm);
}

// Twice a second: fails post-copies whose driver went silent (Registry::CheckPostcopyLeases) and
// retries records the database could not take (Registry::RetryFailedRecords, e.g. a full disk).
class LeaseWatchdog {
 public:
  explicit LeaseWatchdog(Registry* registry) : registry_(registry) {
    thread_ = std::thread([this] { Run(); });
  }
  ~LeaseWatchdog() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_; })) {
      lock.unlock();
      registry_->CheckPostcopyLeases();
      registry_->RetryFailedRecords();
      lock.lock();
    }
  }
  Registry* registry_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The signals the StopWatcher thread takes (blocked in every other thread).
sigset_t WatchedSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&set, sig);
  return set;
}

// Waits for SIGTERM/SIGINT/SIGHUP on its own thread and decides whether to stop.
class StopWatcher {
 public:
  StopWatcher(fuse_session* se, Registry* registry, pthread_t loop_thread)
      : se_(se), registry_(registry), loop_thread_(loop_thread) {
    thread_ = std::thread([this] { Run(); });
  }
  ~StopWatcher() {
    done_ = true;
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }

 private:
  void Run() {
    const sigset_t set = WatchedSignals();
    // Unset until the first refusal (time_point::min() would overflow `now - last_refusal`).
    std::optional<std::chrono::steady_clock::time_point> last_refusal;
    while (!done_) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0 || sig == SIGUSR1) continue;
      const HostTotals t = registry_->Totals();
      const bool busy = t.live + t.incoming > 0;
      const auto now = std::chrono::steady_clock::now();
      if (busy && (!last_refusal || now - *last_refusal > std::chrono::seconds(10))) {
        spdlog::warn(
            "signal {}: not stopping, {} RAM block(s) are in use by running VMs, which "
            "would crash without their memory; stop the VMs first, or send the signal "
            "again within 10 s to stop anyway",
            sig, t.live + t.incoming);
        last_refusal = now;
        continue;
      }
      spdlog::info("signal {}: stopping", sig);
      fuse_session_exit(se_);
      // Wake the loop thread out of its wait so it sees the exit flag.
      pthread_kill(loop_thread_, SIGUSR2);
      return;
    }
  }

  fuse_session* se_;
  Registry* registry_;
  pthread_t loop_thread_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// The write is checked where it happens (an ofstream would report a refusal only when flushed,
// after the check). Reads the value back: that is what the docs promise.
void SpareFromOomKiller() {
  constexpr char kPath[] = "/proc/self/oom_score_adj";
  constexpr char kValue[] = "-1000\n";
  int err = 0;
  const int fd = ::open(kPath, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::write(fd, kValue, sizeof(kValue) - 1) != sizeof(kValue) - 1) err = errno;
  if (fd >= 0 && ::close(fd) != 0 && err == 0) err = errno;
  std::ifstream in(kPath);
  int value = 0;
  in >> value;
  if (err != 0 || !in || value != -1000) {
    spdlog::warn("could not set oom_score_adj to -1000 ({}; it is {}): the OOM killer may pick us",
                 err != 0 ? std::strerror(err) : "not applied", value);
  }
}

}  // namespace

int RunDaemon(const MemfsOptions& o) {
  // Signals: SIGTERM/INT/HUP/USR1 are taken by the StopWatcher thread only (blocked
  // everywhere, inherited by every thread started below); SIGUSR2 interrupts the loop thread.
  const sigset_t blocked = WatchedSignals();
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
  struct sigaction sa {};
  sa.sa_handler = IgnoreSignal;  // no SA_RESTART: the loop's wait returns EINTR
  sigaction(SIGUSR2, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // One daemon per page store and per database: a second one would delete the first's page
  // files at its restart cleanup and serve one VM's pages for another's.
  const std::string holder =
      fmt::format("pid {}, mount {}, started {}", ::getpid(), o.mountpoint, NowText());
  Result<DirLock> store_lock = DirLock::Acquire(o.store_dir, "--store", holder);
  if (!store_lock.ok()) {
    spdlog::error("{}", store_lock.status().message());
    return 1;
  }
  if (::mkdir(o.db_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    spdlog::error("--db {}: cannot create it: {}", o.db_dir, std::strerror(errno));
    return 1;
  }
  Result<DirLock> db_lock = DirLock::Acquire(o.db_dir, "--db", holder);
  if (!db_lock.ok()) {
    spdlog::error("{}", db_lock.status().message());
    return 1;
  }
  Result<std::unique_ptr<Store>> store = Store::Open(o.db_dir, o.host_id);
  if (!store.ok()) {
    spdlog::error("opening the incarnation store: {}", store.status().message());
    return 1;
  }
  Result<AccessPolicy> access = ResolveAccessPolicy(o.vm_user, o.vm_group, o.admin_group);
  if (!access.ok()) {
    spdlog::error("{}", access.status().message());
    return 1;
  }
  RegistryOptions registry_options;
  registry_options.store_dir = o.store_dir;
  registry_options.budget_bytes = o.budget_bytes;
  registry_options.max_file_bytes = o.max_file_bytes;
  registry_options.access = *access;
  Registry registry(store->get(), registry_options);
  const auto t0 = std::chrono::steady_clock::now();
  if (Status s = registry.Recover(); !s.ok()) {
    spdlog::error("recovering stored incarnations: {}", s.message());
    return 1;
  }
  const HostTotals recovered = registry.Totals();
  spdlog::info(
      "{} stored incarnation(s) recovered in {} ms", recovered.stored,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count());

  Syncer syncer(o.mountpoint, std::chrono::milliseconds(o.sync_timeout_ms));
  Xattrs xattrs(&registry, &syncer);
  FsContext ctx;
  ctx.registry = &registry;
  ctx.xattrs = &xattrs;
  ctx.access = *access;

  std::vector<std::string> arg_storage = {
      "mkd-memfs", "-o", "fsname=mkd-memfs,subtype=mkd-memfs,allow_other,default_permissions"};
  if (o.debug_fuse) arg_storage.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : arg_storage) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_lowlevel_ops ops = MakeFuseOps();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), &ctx);
  if (se == nullptr) {
    spdlog::error("creating the FUSE session failed (is the fuse kernel module loaded?)");
    return 1;
  }
  registry.SetCacheInvalidator([se](Ino ino) {
    int rc = fuse_lowlevel_notify_inval_inode(se, ino, 0, 0);
    if (rc != 0 && rc != -ENOENT) {
      spdlog::warn("dropping the kernel's cache of inode {}: {}", ino, strerror(-rc));
    }
  });
  registry.SetReadCompleter(ReplyParkedRead);
  if (fuse_session_mount(se, o.mountpoint.c_str()) != 0) {
    spdlog::error("mounting on {} failed (are we root? is /dev/fuse there?)", o.mountpoint);
    fuse_session_destroy(se);
    return 1;
  }
  Result<std::string> bdi = ApplyBdiLimits(o.mountpoint, o.bdi);
  if (bdi.ok()) {
    spdlog::info("dirty-page limits of the mount: {}", *bdi);
  } else {
    spdlog::warn("dirty-page limits not set: {}", bdi.status().message());
  }
  SpareFromOomKiller();
  registry.EnforceBudget();
  spdlog::info(
      "mkd-memfs ready: mount {} host {} store {} db {} vm-user {} admin-group {} budget {}",
      o.mountpoint, o.host_id, o.store_dir, o.db_dir, access->vm_uid,
      access->admin_gid ? std::to_string(*access->admin_gid) : std::string("none"),
      o.budget_bytes == UINT64_MAX ? std::string("none")
                                   : std::to_string(o.budget_bytes) + " bytes");

  int rc = 0;
  {
    StopWatcher watcher(se, &registry, pthread_self());
    LeaseWatchdog leases(&registry);
    fuse_loop_config* config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(config, o.max_threads);
    fuse_loop_cfg_set_clone_fd(config, 0);
    rc = fuse_session_loop_mt(se, config);
    fuse_loop_cfg_destroy(config);
  }
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  spdlog::info("mkd-memfs stopped (unmounted {})", o.mountpoint);
  return rc == 0 ? 0 : 1;
}

}  // namespace mkd::memfs
