// Command-line options of mkd-memfs, and the parser for byte sizes they use. Value types.
#ifndef MKD_MEMFS_OPTIONS_H_
#define MKD_MEMFS_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "genstore/status.h"
#include "memfs/bdi.h"

namespace mkd::memfs {

struct MemfsOptions {
  std::string mountpoint;
  std::string store_dir;  // page store: a tmpfs directory
  std::string db_dir;     // incarnation store (RocksDB): on disk
  std::string host_id;
  uint64_t budget_bytes = UINT64_MAX;  // memory held by stored incarnations
  unsigned max_threads = 16;
  unsigned sync_timeout_ms = 60'000;
  BdiLimits bdi;
  bool debug_fuse = false;
  std::string log_level = "info";
};

// "512M", "2GiB", "1048576", "1.5G" -> bytes (K/M/G/T are powers of 1024; a trailing "B" or
// "iB" is allowed). Fails on anything else.
Result<uint64_t> ParseBytes(std::string_view text);

// Checks what can be checked before mounting: directories exist, the page store is on tmpfs
// (a warning otherwise, returned in *warning), the mount point is not already a mount of ours.
Status ValidateOptions(const MemfsOptions& options, std::string* warning);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_OPTIONS_H_
