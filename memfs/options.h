// Command-line options of mkd-memfs, and the parser for byte sizes they use. Value types.
#ifndef MKD_MEMFS_OPTIONS_H_
#define MKD_MEMFS_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "memfs/bdi.h"

namespace mkd::memfs {

struct MemfsOptions {
  std::string mountpoint;
  std::string store_dir;  // page store: a tmpfs directory
  std::string db_dir;     // incarnation store (RocksDB): on disk
  std::string host_id;
  // Who is who on the mount (access.h, docs/security.md): QEMU's user and group, and the group
  // whose members may control (empty: root only). Names or numeric ids.
  std::string vm_user = "root";
  std::string vm_group = "root";
  std::string admin_group;
  uint64_t budget_bytes = UINT64_MAX;  // memory held by stored incarnations
  // Largest RAM file (--max-file-size); main sets DefaultMaxFileBytes() when not given.
  uint64_t max_file_bytes = uint64_t{1} << 40;
  unsigned max_threads = 16;
  unsigned sync_timeout_ms = 60'000;
  BdiLimits bdi;
  bool debug_fuse = false;
  std::string log_level = "info";
};

// "512M", "2GiB", "1048576", "1.5G" -> bytes (K/M/G/T are powers of 1024; a trailing "B" or
// "iB" is allowed). Fails on anything else.
Result<uint64_t> ParseBytes(std::string_view text);

// The default --max-file-size: the host's physical memory (MemTotal in /proc/meminfo), rounded
// down to whole pages, at most 1 TiB. A guest cannot use more RAM than the host has, and a RAM
// file costs the daemon 4 bytes of generation table per page of its size (0.1 %) even when
// empty. 1 TiB when /proc/meminfo cannot be read.
uint64_t DefaultMaxFileBytes();

// Checks what can be checked before mounting: directories exist, the page store is on tmpfs
// (a warning otherwise, returned in *warning), the mount point is not already a mount of ours
// and is empty (mounting over files would hide them), --max-file-size is 4 KiB..1 TiB.
Status ValidateOptions(const MemfsOptions& options, std::string* warning);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_OPTIONS_H_
