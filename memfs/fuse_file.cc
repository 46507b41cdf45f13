// FUSE handlers for open files: create, open, release, flush, fsync, fallocate.
//
// Open modes: the writer of a live block keeps the page cache (it is the guest's RAM); readers of
// a live block share it (they see what the guest sees); stored and incoming blocks are read with
// direct I/O so no stale copy of their pages lingers in the cache.
#include <fcntl.h>
#include <linux/falloc.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <string>

#include "memfs/fuse_ops.h"

namespace mkd::memfs {

namespace {
void FillOpen(const OpenResult& r, fuse_file_info* fi) {
  fi->fh = reinterpret_cast<uintptr_t>(new Handle{r.block, r.writer});
  fi->direct_io = r.direct_io ? 1 : 0;
  fi->keep_cache = r.keep_cache ? 1 : 0;
}
}  // namespace

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t /*mode*/,
              fuse_file_info* fi) {
  if (int rc = Allow(req, Need::kVmWrite, std::string("create ") + name); rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  Entry e;
  OpenResult r;
  int rc = Ctx(req).registry->Create(parent, name, &e, &r);
  if (rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  FillOpen(r, fi);
  const fuse_entry_param p = EntryParam(req, e);
  Registry* registry = Ctx(req).registry;  // req is gone after the reply
  if (fuse_reply_create(req, &p, fi) != 0) {
    // The kernel did not take the file (interrupted): undo the open.
    registry->Release(e.ino, r.writer);
    delete HandleOf(fi);
  }
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  const bool write = (fi->flags & O_ACCMODE) != O_RDONLY;
  if (int rc = Allow(
          req, write ? Need::kVmWrite : Need::kInspect,
          (write ? "open for writing, inode " : "open for reading, inode ") + std::to_string(ino));
      rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  OpenResult r;
  int rc = Ctx(req).registry->Open(ino, fi->flags, &r);
  if (rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  FillOpen(r, fi);
  Registry* registry = Ctx(req).registry;  // req is gone after the reply
  if (fuse_reply_open(req, fi) != 0) {
    registry->Release(ino, r.writer);
    delete HandleOf(fi);
  }
}

void OpRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  const bool writer = h != nullptr && h->writer;
  delete h;
  // The kernel does not wait for RELEASE, so storing the incarnation first delays nobody, and a
  // writer that opens the file again right after its close finds the file released.
  Ctx(req).registry->Release(ino, writer);
  fuse_reply_err(req, 0);
}

void OpFlush(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) { fuse_reply_err(req, 0); }

void OpFsync(fuse_req_t req, fuse_ino_t /*ino*/, int /*datasync*/, fuse_file_info* /*fi*/) {
  // By the time FSYNC arrives the kernel has written back every dirty page (each was a WRITE
  // we recorded) and our writes to the page store are complete: nothing is left to do.
  fuse_reply_err(req, 0);
}

void OpFallocate(fuse_req_t req, fuse_ino_t /*ino*/, int mode, off_t offset, off_t length,
                 fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  if (h == nullptr || offset < 0 || length <= 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const auto off = static_cast<uint64_t>(offset);
  const auto len = static_cast<uint64_t>(length);
  if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
    // fallocate(PUNCH_HOLE) or madvise(MADV_REMOVE): free the pages.
    fuse_reply_err(req, -h->block->Punch(off, len));
    return;
  }
  if (mode == 0 || mode == FALLOC_FL_KEEP_SIZE) {
    // Preallocation inside the block is a no-op (pages are stored when written); growing is not.
    fuse_reply_err(req, off + len <= h->block->size() ? 0 : EFBIG);
    return;
  }
  spdlog::warn("fallocate mode {:#x}: not supported (only punching holes frees pages)", mode);
  fuse_reply_err(req, EOPNOTSUPP);
}

}  // namespace mkd::memfs
