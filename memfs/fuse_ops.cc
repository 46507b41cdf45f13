// The FUSE operation table and the connection setup (see fuse_ops.h).
#include "memfs/fuse_ops.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <optional>
#include <vector>

#include "genstore/log_limiter.h"

namespace mkd::memfs {

int Allow(fuse_req_t req, Need need, std::string_view what) {
  const fuse_ctx* c = fuse_req_ctx(req);
  Caller caller{
      c->uid, c->gid, c->pid, [req] {
        // libfuse reads them from /proc/<pid>/task/<tid>/status; at most 64 here.
        std::vector<gid_t> groups(64);
        int n = fuse_req_getgroups(req, static_cast<int>(groups.size()), groups.data());
        groups.resize(n > 0 ? std::min<size_t>(static_cast<size_t>(n), groups.size()) : 0);
        return groups;
      }};
  Status s = Ctx(req).access.Check(caller, need, what);
  if (s.ok()) return 0;
  // Any local user can make requests that are refused: the log lines they cost are bounded.
  static LogLimiter refusals(20);
  if (std::optional<uint64_t> left_out = refusals.Admit()) {
    spdlog::warn("{}{}", s.message(),
                 *left_out > 0 ? fmt::format(" ({} refusals before it not logged)", *left_out)
                               : std::string());
  }
  return -EACCES;
}

void OpInit(void* /*userdata*/, fuse_conn_info* conn) {
  // Guest RAM is a shared mapping: the kernel's page cache is the RAM, and each write-back of a
  // dirty page must reach us as a WRITE. The write-back cache would also batch write(2) calls,
  // which changes nothing for mmap and only delays dirty reports: off.
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
  // Reads are spliced from the page-store file straight into the reply.
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
  // The kernel checks owners and modes (the mount has default_permissions); the daemon checks
  // the caller again (Allow). POSIX ACLs are not offered: modes are the whole model.
  // Write-back in requests of up to 1 MiB (256 pages).
  conn->max_write = 1u << 20;
  // No auto_inval_data: with it the kernel asks for a file's attributes before every read(2)
  // (our attribute timeout is 0, so that ls and du are current), one round trip per read, and
  // drops the page cache whenever they changed. Content changes behind the kernel's back only
  // where memfs drops the cache itself (commit, abort, the VM's stop: Registry::InvalidateCache);
  // a shared mapping never revalidated anyway. Measured: docs/decisions.md ("pipe").
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_AUTO_INVAL_DATA);
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
