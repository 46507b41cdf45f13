// FUSE handlers for names and attributes: lookup, forget, getattr, setattr, statfs.
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <string>

#include "memfs/fuse_ops.h"

namespace mkd::memfs {

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Entry e;
  ReplyEntry(req, Ctx(req).registry->Lookup(parent, name, &e), e);
}

namespace {
// Forgets an inode, and the attribute state kept for it once it is gone for good.
void ForgetOne(FsContext& ctx, fuse_ino_t ino, uint64_t nlookup) {
  if (ctx.registry->Forget(ino, nlookup)) ctx.xattrs->Forget(ino);
}
}  // namespace

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  ForgetOne(Ctx(req), ino, nlookup);
  fuse_reply_none(req);
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) ForgetOne(Ctx(req), forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) {
  struct stat st {};
  bool receiving = false;
  int rc = Ctx(req).registry->GetAttr(ino, &st, &receiving);
  if (rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  const FsContext& ctx = Ctx(req);
  fuse_reply_attr(req, &st, receiving ? ctx.receiving_attr_timeout : ctx.attr_timeout);
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
               fuse_file_info* /*fi*/) {
  Registry& registry = *Ctx(req).registry;
  constexpr int kTimes = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
                         FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
  if (to_set & ~(FUSE_SET_ATTR_SIZE | kTimes)) {
    // Owner and mode are fixed: the files are the daemon's, RAM files 0600, directories 0755.
    fuse_reply_err(req, EPERM);
    return;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (int rc = Allow(req, Need::kVmWrite, "truncate inode " + std::to_string(ino)); rc < 0) {
      fuse_reply_err(req, -rc);
      return;
    }
    if (attr->st_size < 0) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    int rc = registry.SetSize(ino, static_cast<uint64_t>(attr->st_size));
    if (rc < 0) {
      fuse_reply_err(req, -rc);
      return;
    }
  }
  // Times are accepted and ignored (touch works; the files report when the VM left).
  struct stat st {};
  int rc = registry.GetAttr(ino, &st);
  if (rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  fuse_reply_attr(req, &st, Ctx(req).attr_timeout);
}

void OpStatfs(fuse_req_t req, fuse_ino_t /*ino*/) {
  // The page store's space is the mount's space.
  struct statvfs st {};
  if (::statvfs(Ctx(req).registry->store_dir().c_str(), &st) != 0) {
    fuse_reply_err(req, errno);
    return;
  }
  fuse_reply_statfs(req, &st);
}

}  // namespace mkd::memfs
