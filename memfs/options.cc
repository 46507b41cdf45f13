// mkd-memfs option checks and the byte-size parser (see options.h).
#include "memfs/options.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "genstore/generation.h"

namespace mkd::memfs {

Result<uint64_t> ParseBytes(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not a size (examples: 512M, 2G, 1.5GiB, 4096)");
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) return bad();
  double number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, number);
  if (ec != std::errc() || ptr != text.data() + i) return bad();
  std::string unit(text.substr(i));
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() >= 2 && unit.substr(unit.size() - 2) == "IB")
    unit.resize(unit.size() - 2);
  else if (!unit.empty() && unit.back() == 'B')
    unit.pop_back();
  double scale = 1;
  if (unit == "K")
    scale = 1024.0;
  else if (unit == "M")
    scale = 1024.0 * 1024;
  else if (unit == "G")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "T")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty())
    return bad();
  const double bytes = number * scale;
  if (!std::isfinite(bytes) || bytes >= 1.8e19) return bad();
  return static_cast<uint64_t>(bytes);
}

uint64_t DefaultMaxFileBytes() {
  constexpr uint64_t kCap = kMaxPages * kPageSize;
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  uint64_t kib = 0;
  while (in >> key >> kib >> unit) {
    if (key == "MemTotal:") return std::min(kCap, kib * 1024 / kPageSize * kPageSize);
  }
  return kCap;
}

Status ValidateOptions(const MemfsOptions& o, std::string* warning) {
  auto is_dir = [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  };
  if (!is_dir(o.mountpoint)) {
    return Status::InvalidArgument("mount point " + o.mountpoint +
                                   " is not a directory (create it first)");
  }
  if (!is_dir(o.store_dir)) {
    return Status::InvalidArgument("--store " + o.store_dir +
                                   " is not a directory (create it, on a tmpfs)");
  }
  struct statfs fs {};
  if (::statfs(o.mountpoint.c_str(), &fs) == 0 && fs.f_type == FUSE_SUPER_MAGIC) {
    return Status::FailedPrecondition("something is already mounted on " + o.mountpoint +
                                      " (a FUSE file system; another mkd-memfs?)");
  }
  std::error_code ec;
  if (!std::filesystem::is_empty(o.mountpoint, ec) || ec) {
    return Status::FailedPrecondition(
        "mount point " + o.mountpoint +
        (ec ? " cannot be listed: " + ec.message()
            : " is not empty: mounting over it would hide its files; use an empty directory"));
  }
  if (o.max_file_bytes < kPageSize || o.max_file_bytes > kMaxPages * kPageSize) {
    return Status::InvalidArgument("--max-file-size must be 4 KiB .. 1 TiB");
  }
  if (::statfs(o.store_dir.c_str(), &fs) != 0) {
    return Status::Io("statfs " + o.store_dir + ": " + std::strerror(errno));
  }
  if (fs.f_type != TMPFS_MAGIC) {
    *warning = "--store " + o.store_dir +
               " is not on a tmpfs: stored memory will live on disk, and reads and writes of "
               "guest pages will be slower";
  }
  if (o.sync_timeout_ms == 0) return Status::InvalidArgument("--sync-timeout must be positive");
  if (o.bdi.max_ratio && (*o.bdi.max_ratio < 0 || *o.bdi.max_ratio > 100)) {
    return Status::InvalidArgument("--bdi-max-ratio must be 0..100");
  }
  if (o.bdi.strict_limit && *o.bdi.strict_limit != 0 && *o.bdi.strict_limit != 1) {
    return Status::InvalidArgument("--bdi-strict-limit must be 0 or 1");
  }
  return Status::Ok();
}

}  // namespace mkd::memfs
