// The FUSE operation table and the connection setup (see fuse_ops.h).
#include "memfs/fuse_ops.h"

namespace mkd::memfs {

void OpInit(void* /*userdata*/, fuse_conn_info* conn) {
  // Guest RAM is a shared mapping: the kernel's page cache is the RAM, and each write-back of a
  // dirty page must reach us as a WRITE. The write-back cache would also batch write(2) calls,
  // which changes nothing for mmap and only delays dirty reports: off.
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
  // Reads are spliced from the page-store file straight into the reply.
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
  // Write-back in requests of up to 1 MiB (256 pages).
  conn->max_write = 1u << 20;
}

fuse_lowlevel_ops MakeFuseOps() {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.statfs = OpStatfs;
  ops.mkdir = OpMkdir;
  ops.rmdir = OpRmdir;
  ops.unlink = OpUnlink;
  ops.rename = OpRename;
  ops.mknod = OpMknod;
  ops.symlink = OpSymlink;
  ops.link = OpLink;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.releasedir = OpReleasedir;
  ops.create = OpCreate;
  ops.open = OpOpen;
  ops.release = OpRelease;
  ops.flush = OpFlush;
  ops.fsync = OpFsync;
  ops.fallocate = OpFallocate;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.setxattr = OpSetxattr;
  ops.removexattr = OpRemovexattr;
  return ops;
}

}  // namespace mkd::memfs
