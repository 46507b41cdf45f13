// mkd-memfs: the guest-memory file system of miyakodori (docs/memfs.md). Parses the command
// line and runs the daemon.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "base/host_id.h"
#include "genstore/incarnation.h"
#include "memfs-protocol/names.h"
#include "memfs/daemon.h"
#include "memfs/options.h"

int main(int argc, char** argv) {
  using mkd::memfs::MemfsOptions;
  MemfsOptions o;
  std::string budget, max_file_size;
  int max_ratio = -1, strict_limit = -1;
  unsigned sync_timeout_s = 60;
  CLI::App app{
      "mkd-memfs: keeps VM RAM in files (one directory per VM UUID, one file per RAM block), "
      "records which pages the guest writes, and keeps the memory a VM leaves behind so a "
      "returning VM reuses it. Runs in the foreground; stop with SIGTERM. See docs/memfs.md."};
  app.add_option("mountpoint", o.mountpoint, "where to mount (an empty directory)")->required();
  app.add_option("--store", o.store_dir, "page store: a directory on a tmpfs")->required();
  app.add_option("--db", o.db_dir, "incarnation database directory (on disk)")->required();
  app.add_option("--host-id", o.host_id, "this host's name in the cluster ([A-Za-z0-9._-])")
      ->required();
  app.add_option("--vm-user", o.vm_user,
                 "the user QEMU runs as: owner of VM directories and RAM files, the only one "
                 "besides root who may open them for writing (docs/security.md)")
      ->capture_default_str();
  app.add_option("--vm-group", o.vm_group,
                 "the group QEMU runs as (group of the files without "
                 "--admin-group)")
      ->capture_default_str();
  app.add_option("--admin-group", o.admin_group,
                 "members may use the control attributes (" +
                     std::string(mkd::memfs_protocol::kPrefix) +
                     "*: syncs, arrivals, commits), mkdir/rm, and read RAM files (default: root "
                     "only)");
  app.add_option("--budget", budget,
                 "memory stored incarnations may hold (e.g. 4G); coldest pages are evicted "
                 "beyond it (default: no limit)");
  app.add_option("--max-file-size", max_file_size,
                 "largest RAM file (e.g. 64G); a larger ftruncate fails with EFBIG (default: the "
                 "host's physical memory)");
  app.add_option("--threads", o.max_threads, "most FUSE worker threads")
      ->capture_default_str()
      ->check(CLI::Range(2, 256));
  app.add_option("--sync-timeout", sync_timeout_s, "seconds a dirty-log sync may take")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option("--bdi-max-ratio", max_ratio,
                 "percent of the dirty-page threshold the mount may use (kernel default for "
                 "FUSE: 1; default here: 100, see docs/memfs.md)")
      ->check(CLI::Range(0, 100));
  app.add_option("--bdi-strict-limit", strict_limit,
                 "1: keep the mount strictly within its share (kernel default for FUSE); "
                 "default here: 0")
      ->check(CLI::Range(0, 1));
  app.add_flag("--debug-fuse", o.debug_fuse, "print every FUSE request (very verbose)");
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);

  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e mkd-memfs %l: %v");
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  // A size option given as text ("4G"); left at its default when not given.
  auto parse_size = [](const char* option, const std::string& text, uint64_t* out) {
    if (text.empty()) return true;
    auto bytes = mkd::memfs::ParseBytes(text);
    if (!bytes.ok()) spdlog::error("{}: {}", option, bytes.status().message());
    if (bytes.ok()) *out = *bytes;
    return bytes.ok();
  };
  o.max_file_bytes = mkd::memfs::DefaultMaxFileBytes();
  if (!parse_size("--budget", budget, &o.budget_bytes) ||
      !parse_size("--max-file-size", max_file_size, &o.max_file_bytes)) {
    return 2;
  }
  o.sync_timeout_ms = sync_timeout_s * 1000;
  o.bdi.max_ratio = max_ratio >= 0 ? max_ratio : 100;
  o.bdi.strict_limit = strict_limit >= 0 ? strict_limit : 0;
  if (auto s = mkd::ValidateHostId(o.host_id); !s.ok()) {
    spdlog::error("--host-id: {}", s.message());
    return 2;
  }
  std::string warning;
  if (auto s = mkd::memfs::ValidateOptions(o, &warning); !s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  if (!warning.empty()) spdlog::warn("{}", warning);
  return mkd::memfs::RunDaemon(o);
}
