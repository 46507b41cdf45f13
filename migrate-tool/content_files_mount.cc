// Reuse by content over the local memfs mount (see content_files_mount.h). Lists the mount's
// root, opens RAM files read-only, reads user.mkd.digests and pages; writes nothing.
#include "migrate-tool/content_files_mount.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "base/uuid.h"
#include "memfs-protocol/names.h"

namespace mkd::migrate {

Result<std::vector<std::string>> MountContentFiles::List() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(root_, ec);
  if (ec) return Status::Io(root_ + ": listing the VM directories: " + ec.message());
  std::vector<std::string> files;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    Result<Uuid> vm = Uuid::Parse(name);
    if (!vm.ok() || (only_vm_ && *vm != *only_vm_)) continue;
    std::string ram = root_ + "/" + name + "/ram";
    std::error_code stat_ec;  // a VM directory gone meanwhile, or not ours to read: not indexed
    if (fs::is_regular_file(ram, stat_ec)) files.push_back(std::move(ram));
  }
  if (ec) return Status::Io(root_ + ": listing the VM directories: " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

std::optional<Uuid> MountContentFiles::VmOf(const std::string& file) {
  Result<Uuid> vm = Uuid::Parse(std::filesystem::path(file).parent_path().filename().string());
  return vm.ok() ? std::optional<Uuid>(*vm) : std::nullopt;
}

Result<PageDigests> MountContentFiles::Digests(const std::string& file) {
  // RamFile's errors name the file already.
  MKD_ASSIGN_OR_RETURN(RamFile ram, RamFile::Open(file));
  MKD_ASSIGN_OR_RETURN(RamFileSummary summary, ram.Summary());
  MKD_ASSIGN_OR_RETURN(std::string blob, ram.DigestsBlob());
  Result<PageDigests> stored = DecodePageDigests(blob);
  if (!stored.ok()) {
    return stored.status().WithContext(file + ": " + std::string(memfs_protocol::kDigests));
  }
  if (summary.state != "live" || stored->pages() != summary.pages) return stored;
  MKD_ASSIGN_OR_RETURN(PageBitmap resident, ram.Resident(summary.pages));
  PageDigests digests(summary.pages);
  std::string buf(kLiveChunk * kPageSize, '\0');
  std::vector<uint64_t> run;
  for (uint64_t p = 0; p < summary.pages;) {
    uint64_t n = 1;
    const bool in_cache = resident.Test(p);
    while (p + n < summary.pages && n < kLiveChunk && resident.Test(p + n) == in_cache) ++n;
    run.resize(n);
    if (in_cache) {
      MKD_RETURN_IF_ERROR(ram.ReadPages(p, n, buf.data()));
      for (uint64_t i = 0; i < n; ++i) run[i] = PageDigest(buf.data() + i * kPageSize);
    } else {
      for (uint64_t i = 0; i < n; ++i) run[i] = stored->Get(p + i);
    }
    digests.Append(p, run);
    p += n;
  }
  return digests;
}

Status MountPageReader::ReadPage(const std::string& file, uint64_t page, char* out) {
  auto it = open_.find(file);
  if (it == open_.end()) {
    if (open_.size() >= kMaxOpen) {
      auto oldest = std::min_element(open_.begin(), open_.end(), [](const auto& a, const auto& b) {
        return a.second.last_used < b.second.last_used;
      });
      open_.erase(oldest);
    }
    MKD_ASSIGN_OR_RETURN(RamFile ram, RamFile::Open(file));
    it = open_.emplace(file, Open{std::move(ram), 0}).first;
  }
  it->second.last_used = ++uses_;
  // A failed read leaves the file open: a stored page that is no longer the VM's reads as EIO
  // while its other pages are fine.
  return it->second.ram.ReadPages(page, 1, out);
}

}  // namespace mkd::migrate
