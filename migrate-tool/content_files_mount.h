// The ports of reuse by content (content_index.h) over the local memfs mount: which RAM files to
// index, their digests (user.mkd.digests), and the current content of a page (pread through the
// mount, as ram_file.h does). They may list the mount's root directory, open RAM files read-only
// and read xattrs and pages; they never write anything. serve builds them; unit tests use fakes.
#ifndef MKD_MIGRATE_TOOL_CONTENT_FILES_MOUNT_H_
#define MKD_MIGRATE_TOOL_CONTENT_FILES_MOUNT_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/uuid.h"
#include "migrate-tool/content_index.h"
#include "migrate-tool/ram_file.h"

namespace mkd::migrate {

// The RAM file `<root>/<uuid>/ram` of every VM directory on the mount at `mount_root` (live VMs,
// stored incarnations, arriving VMs alike). Holds nothing open between calls; as thread-safe as
// the file system (one object per build is the intended use).
class MountContentFiles final : public ContentFiles {
 public:
  // `only_vm`: the directory of this VM alone (serve --content-scope vm), else every VM's.
  explicit MountContentFiles(std::string mount_root, std::optional<Uuid> only_vm = std::nullopt)
      : root_(std::move(mount_root)), only_vm_(only_vm) {}

  // Every directory entry whose name parses as a UUID (base/uuid.h), is `only_vm` when that is
  // set, and that holds a regular file `ram`, sorted; other names are ignored. Io when the root
  // cannot be listed.
  Result<std::vector<std::string>> List() override;
  // memfs's digests of the file's page store (RamFile::DigestsBlob, DecodePageDigests). For a
  // live file the page store holds only what the kernel wrote back (often nothing: a guest's
  // memory stays in the page cache until a migration syncs it), so the pages in the page cache
  // (RamFile::Resident) are read through the mount, in runs of at most kLiveChunk pages, and
  // digested here; the others keep memfs's digest (written back and dropped, or never written).
  // Errors name the file.
  Result<PageDigests> Digests(const std::string& file) override;
  static constexpr uint64_t kLiveChunk = 256;
  // The VM whose RAM file `file` (as List names it) is: its directory's name.
  static std::optional<Uuid> VmOf(const std::string& file);

 private:
  std::string root_;
  std::optional<Uuid> only_vm_;
};

// Reads pages with RamFile::ReadPages, keeping up to kMaxOpen files open (the least recently used
// one is closed beyond that). A file stays open for the reader's life, also after a failed read
// or after its path was removed or replaced: what is read there is checked like anything else
// (content_index.h). Owns those descriptors. One per session; not thread-safe.
class MountPageReader final : public PageReader {
 public:
  static constexpr size_t kMaxOpen = 64;

  Status ReadPage(const std::string& file, uint64_t page, char* out) override;
  size_t open_files() const { return open_.size(); }

 private:
  struct Open {
    RamFile ram;
    uint64_t last_used = 0;
  };
  std::map<std::string, Open> open_;
  uint64_t uses_ = 0;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_CONTENT_FILES_MOUNT_H_
