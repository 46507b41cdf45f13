// The FUSE low-level operations of mkd-memfs: one handler per operation, each ending in exactly
// one fuse_reply_*, grouped by file (fuse_entry.cc: lookup/forget/getattr/setattr/statfs;
// fuse_dir.cc: directories and unlink; fuse_file.cc: create/open/release/fsync/fallocate;
// fuse_io.cc: read/write; fuse_xattr.cc: extended attributes). Handlers translate between the
// kernel's requests and the Registry; errors are negative errno inside, positive at the reply.
//
// Every handler that reads or changes a VM's memory, or controls it, first checks its caller
// (Allow: access.h, docs/security.md); the kernel has checked owner and mode before
// (default_permissions).
//
// Thread-safety: handlers run on libfuse's worker threads concurrently; all shared state is in
// the Registry, Block and Xattrs, which lock for themselves.
#ifndef MKD_MEMFS_FUSE_OPS_H_
#define MKD_MEMFS_FUSE_OPS_H_

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <memory>

#include "memfs/access.h"
#include "memfs/block.h"
#include "memfs/registry.h"
#include "memfs/xattrs.h"

namespace mkd::memfs {

// What every handler reaches through fuse_req_userdata().
struct FsContext {
  Registry* registry = nullptr;
  Xattrs* xattrs = nullptr;
  AccessPolicy access;
  // Attributes change as pages are written (st_blocks): the kernel may cache them this long.
  double attr_timeout = 0.0;
  // ... except those of a RAM file receiving a migration. With default_permissions the kernel
  // asks for the attributes again before each permission check once they expired, so each
  // user.mkd.receive write cost two round trips with a timeout of 0 (docs/decisions.md, "pipe").
  // While pages arrive, st_blocks in stat(2) may be this much behind; mode and owner do not
  // change before the commit or abort, and both drop the kernel's cache of the file.
  double receiving_attr_timeout = 1.0;
  double entry_timeout = 1.0;
};

// An open file (fuse_file_info::fh).
struct Handle {
  std::shared_ptr<Block> block;
  bool writer = false;
};

inline FsContext& Ctx(fuse_req_t req) { return *static_cast<FsContext*>(fuse_req_userdata(req)); }
inline Handle* HandleOf(const fuse_file_info* fi) {
  return reinterpret_cast<Handle*>(static_cast<uintptr_t>(fi->fh));
}

// 0 when the request's caller may do what `need` names, else -EACCES after a log line that names
// the caller's uid and `what` was refused.
int Allow(fuse_req_t req, Need need, std::string_view what);

// The reply parameters of a lookup, mkdir or create.
inline fuse_entry_param EntryParam(fuse_req_t req, const Entry& e) {
  fuse_entry_param p{};
  p.ino = e.ino;
  p.attr = e.attr;
  p.attr_timeout = Ctx(req).attr_timeout;
  p.entry_timeout = Ctx(req).entry_timeout;
  return p;
}

// Replies to a lookup or mkdir: the entry, or the error when rc < 0.
inline void ReplyEntry(fuse_req_t req, int rc, const Entry& e) {
  if (rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  const fuse_entry_param p = EntryParam(req, e);
  fuse_reply_entry(req, &p);
}

// The operation table.
fuse_lowlevel_ops MakeFuseOps();

// Handlers, by file.
// Answers a read (spliced from the page store) or, with err != 0, fails it; for reads parked
// during a post-copy it runs on the thread whose user.mkd.receive completed them.
void ReplyParkedRead(const ParkedRead& read, int err);

void OpInit(void* userdata, fuse_conn_info* conn);
void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name);
void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets);
void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
void OpStatfs(fuse_req_t req, fuse_ino_t ino);

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name);
void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name);
void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags);
void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name);
void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname);
void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
void OpReleasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpFlush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 fuse_file_info* fi);

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             fuse_file_info* fi);

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags);
void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_FUSE_OPS_H_
