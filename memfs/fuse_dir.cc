// FUSE handlers for directories and names: mkdir (one directory per VM, named by its UUID),
// rmdir, unlink (removes a stored incarnation), readdir; rename, mknod, symlink and link are
// refused (a RAM block's name is what QEMU asked for).
#include <spdlog/spdlog.h>

#include <cerrno>
#include <string>
#include <vector>

#include "memfs/fuse_ops.h"

namespace mkd::memfs {

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t /*mode*/) {
  if (int rc = Allow(req, Need::kControl, std::string("mkdir ") + name); rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  Entry e;
  ReplyEntry(req, Ctx(req).registry->Mkdir(parent, name, &e), e);
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (int rc = Allow(req, Need::kControl, std::string("rmdir ") + name); rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  fuse_reply_err(req, -Ctx(req).registry->Rmdir(parent, name));
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (int rc = Allow(req, Need::kControl, std::string("unlink ") + name); rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  fuse_reply_err(req, -Ctx(req).registry->Unlink(parent, name));
}

void OpRename(fuse_req_t req, fuse_ino_t /*parent*/, const char* name, fuse_ino_t /*newparent*/,
              const char* newname, unsigned int /*flags*/) {
  spdlog::warn("rename {} -> {}: refused, names are fixed (VM UUID / RAM block)", name, newname);
  fuse_reply_err(req, EPERM);
}

void OpMknod(fuse_req_t req, fuse_ino_t /*parent*/, const char* name, mode_t /*mode*/,
             dev_t /*rdev*/) {
  spdlog::warn("mknod {}: refused, only RAM block files and VM directories exist here", name);
  fuse_reply_err(req, EPERM);
}

void OpSymlink(fuse_req_t req, const char* /*link*/, fuse_ino_t /*parent*/, const char* name) {
  spdlog::warn("symlink {}: refused, only RAM block files and VM directories exist here", name);
  fuse_reply_err(req, EPERM);
}

void OpLink(fuse_req_t req, fuse_ino_t /*ino*/, fuse_ino_t /*newparent*/, const char* newname) {
  spdlog::warn("link {}: refused, a RAM block has one name", newname);
  fuse_reply_err(req, EPERM);
}

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  NodeRef node;
  int rc = Ctx(req).registry->Resolve(ino, &node);
  if (rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  if (node.kind == NodeRef::Kind::kBlock) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  if (node.kind == NodeRef::Kind::kVm) {
    if (int a = Allow(req, Need::kInspect, "list VM directory " + node.vm.ToString()); a < 0) {
      fuse_reply_err(req, -a);
      return;
    }
  }
  fuse_reply_open(req, fi);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* /*fi*/) {
  std::vector<std::pair<std::string, struct stat>> names;
  int rc = Ctx(req).registry->List(ino, &names);
  if (rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  // Offsets: 0 start, 1 after ".", 2 after "..", 3 + i after names[i].
  std::vector<char> buf(size);
  size_t used = 0;
  auto add = [&](const char* name, const struct stat& st, off_t next) {
    size_t n = fuse_add_direntry(req, buf.data() + used, size - used, name, &st, next);
    if (n > size - used) return false;
    used += n;
    return true;
  };
  struct stat dir {};
  dir.st_ino = ino;
  dir.st_mode = S_IFDIR;
  off_t pos = off;
  if (pos == 0 && add(".", dir, 1)) pos = 1;
  if (pos == 1 && add("..", dir, 2)) pos = 2;
  for (size_t i = pos >= 2 ? static_cast<size_t>(pos - 2) : names.size(); i < names.size(); ++i) {
    if (!add(names[i].first.c_str(), names[i].second, static_cast<off_t>(i + 3))) break;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) {
  fuse_reply_err(req, 0);
}

}  // namespace mkd::memfs
