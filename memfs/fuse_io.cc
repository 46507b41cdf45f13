// FUSE handlers for data: read (spliced from the page-store file; after a post-copy switchover a
// read of pages still at the source waits for them) and write (a dirty-page report in the live
// state; refused in the others).
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "memfs/fuse_ops.h"

namespace mkd::memfs {

void OpRead(fuse_req_t req, fuse_ino_t /*ino*/, size_t size, off_t off, fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  if (h == nullptr || off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  std::shared_ptr<Postcopy> pc;
  const int64_t n = h->block->CheckRead(static_cast<uint64_t>(off), size, &pc);
  if (n < 0) {
    spdlog::debug("read {}+{}: {}", off, size, std::strerror(static_cast<int>(-n)));
    fuse_reply_err(req, static_cast<int>(-n));
    return;
  }
  ParkedRead read;
  read.token = req;
  read.offset = static_cast<uint64_t>(off);
  read.size = static_cast<size_t>(n);
  read.fd = h->block->store_fd();
  if (n > 0 && pc) {
    // After a post-copy switchover: a read of pages still at the source waits for them.
    read.first = read.offset / kPageSize;
    read.last = (read.offset + read.size - 1) / kPageSize;
    read.since = PostcopyClock::now();
    switch (pc->ParkIfMissing(read)) {
      case Postcopy::ReadCheck::kParked:
        return;  // answered by ReplyParkedRead when the pages arrive (or the post-copy fails)
      case Postcopy::ReadCheck::kFailed:
        fuse_reply_err(req, EIO);
        return;
      case Postcopy::ReadCheck::kPresent:
        break;
    }
  }
  ReplyParkedRead(read, 0);
}

void ReplyParkedRead(const ParkedRead& read, int err) {
  auto req = static_cast<fuse_req_t>(read.token);
  if (err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  fuse_bufvec buf{};  // FUSE_BUFVEC_INIT is a C compound literal
  buf.count = 1;
  buf.buf[0].size = read.size;
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = read.fd;
  buf.buf[0].pos = static_cast<off_t>(read.offset);
  fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void OpWrite(fuse_req_t req, fuse_ino_t /*ino*/, const char* data, size_t size, off_t off,
             fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  if (h == nullptr || off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  Block& block = *h->block;
  int rc = block.Write(static_cast<uint64_t>(off), data, size);
  if (rc == -ENOSPC) {
    // The page store is full: make room by evicting stored incarnations, then try once more.
    const uint64_t freed = Ctx(req).registry->FreeStoredMemory(size);
    if (freed > 0) rc = block.Write(static_cast<uint64_t>(off), data, size);
    if (rc < 0) {
      spdlog::error(
          "write {}+{} to {}: the page store is full ({} bytes of stored memory "
          "freed); the pages are lost and read as errors until written again. "
          "Give the --store tmpfs more room.",
          off, size, block.meta().key.block, freed);
    }
  } else if (rc == -EROFS && block.state() == IncarnationState::kIncoming) {
    spdlog::warn("write {}+{} to {}: refused, the block is receiving a migration", off, size,
                 block.meta().key.block);
  } else if (rc < 0) {
    spdlog::warn("write {}+{} to {}: {}", off, size, block.meta().key.block, std::strerror(-rc));
  }
  if (rc < 0) {
    if (block.state() == IncarnationState::kLive) block.CountFailedWrite();
    fuse_reply_err(req, -rc);
    return;
  }
  fuse_reply_write(req, size);
}

}  // namespace mkd::memfs
