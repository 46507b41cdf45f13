// A memfs RAM file through its mount: xattrs and pread (see ram_file.h).
#include "migrate-tool/ram_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "genstore/bitmap_codec.h"
#include "genstore/chunking.h"
#include "genstore/table_codec.h"
#include "memfs-protocol/names.h"
#include "memfs-protocol/receive_frame.h"
#include "memfs-protocol/sync_reply.h"

namespace mkd::migrate {

namespace mp = memfs_protocol;

namespace {

std::string Errno(int err) { return std::strerror(err); }

// A refused setxattr on the mount as a Status: memfs answers EBUSY for a wrong state (xattrs.h),
// EINVAL for a bad value.
Status SetxattrError(int err, const std::string& path, std::string_view name, const char* what) {
  const std::string m = path + ": setxattr " + std::string(name) + ": " + Errno(err);
  if (err == EBUSY) {
    return Status::FailedPrecondition(m + " (wrong state of " + std::string(what) + ")");
  }
  if (err == EINVAL) return Status::InvalidArgument(m);
  return Status::Io(m);
}

}  // namespace

Hello HelloFor(const Uuid& vm, const RamFileSummary& s, const std::string& source_host) {
  Hello hello;
  hello.vm = vm;
  hello.epoch = s.epoch;
  hello.lineage = s.lineage;
  hello.blocks = {BlockInfo{"ram", s.pages}};
  hello.source_host = source_host;
  return hello;
}

PostcopyStatus PostcopyStatusOf(const mp::PostcopyStats& st) {
  PostcopyStatus out;
  out.state = st.state;
  out.reason = st.reason;
  out.missing = st.missing;
  out.done.fetched = st.fetched;
  out.done.pushed = st.pushed;
  out.done.skipped = st.skipped;
  out.done.faults = st.faults;
  out.done.fault_median_ms = st.fault_median_ms;
  out.done.fault_p99_ms = st.fault_p99_ms;
  out.done.fault_max_ms = st.fault_max_ms;
  out.done.seconds = st.seconds;
  return out;
}

Result<RamFile> RamFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::NotFound(path + ": " + Errno(errno) +
                            " (is the VM running on this host with its RAM on mkd-memfs?)");
  }
  // A consumer name of its own for the dirty log: "mig-" and 12 random hex digits.
  return RamFile(
      path, fd,
      "mig-" + Uuid::Random().ToString().substr(0, 8) + Uuid::Random().ToString().substr(9, 4));
}

RamFile::RamFile(RamFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(other.fd_),
      consumer_(std::move(other.consumer_)),
      syncs_(other.syncs_) {
  other.fd_ = -1;
}

RamFile& RamFile::operator=(RamFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    consumer_ = std::move(other.consumer_);
    syncs_ = other.syncs_;
    other.fd_ = -1;
  }
  return *this;
}

RamFile::~RamFile() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::string> RamFile::Get(std::string_view name_view) {
  const std::string name(name_view);
  std::string value(kMaxChunkSize, '\0');
  ssize_t n = ::fgetxattr(fd_, name.c_str(), value.data(), value.size());
  if (n < 0) {
    const int err = errno;
    Status s = err == ENODATA ? Status::NotFound(path_ + ": no " + name)
                              : Status::Io(path_ + ": getxattr " + name + ": " + Errno(err));
    return s;
  }
  value.resize(static_cast<size_t>(n));
  return value;
}

Status RamFile::Set(std::string_view name, std::string_view value) {
  if (::fsetxattr(fd_, std::string(name).c_str(), value.data(), value.size(), 0) != 0) {
    return SetxattrError(errno, path_, name, "the file");
  }
  return Status::Ok();
}

Result<std::string> RamFile::GetChunked(std::string_view base) {
  const std::string context = path_ + ": " + std::string(base);
  std::vector<std::string> chunks;
  MKD_ASSIGN_OR_RETURN(std::string first, Get(mp::ChunkName(base, 0)));
  Result<ChunkInfo> info = ParseChunk(first);
  if (!info.ok()) return info.status().WithContext(context);
  chunks.push_back(std::move(first));
  for (uint32_t i = 1; i < info->count; ++i) {
    MKD_ASSIGN_OR_RETURN(std::string c, Get(mp::ChunkName(base, i)));
    chunks.push_back(std::move(c));
  }
  Result<std::string> blob = JoinChunks(chunks);
  if (!blob.ok()) return blob.status().WithContext(context);
  return blob;
}

Result<PageBitmap> RamFile::GetBitmap(std::string_view base) {
  MKD_ASSIGN_OR_RETURN(std::string blob, GetChunked(base));
  Result<DecodedBitmap> bitmap = DecodeBitmap(blob);
  if (!bitmap.ok()) return bitmap.status().WithContext(path_ + ": " + std::string(base));
  return std::move(bitmap->bitmap);
}

Result<RamFileSummary> RamFile::Summary() {
  MKD_ASSIGN_OR_RETURN(std::string line, Get(mp::kSummary));
  Result<RamFileSummary> s = mp::ParseBlockSummary(line);
  if (!s.ok()) return s.status().WithContext(path_);
  return s;
}

Result<PageBitmap> RamFile::Sync() { return Deliver(mp::SyncName(consumer_)); }

Result<PageBitmap> RamFile::Take() { return Deliver(mp::TakeName(consumer_)); }

Result<PageBitmap> RamFile::Deliver(const std::string& name) {
  MKD_ASSIGN_OR_RETURN(std::string counts, Get(name));
  Result<mp::SyncReply> reply = mp::ParseSyncReply(counts);
  if (!reply.ok()) return reply.status().WithContext(path_);
  if (!reply->new_consumer) {
    return Status::Corrupt(path_ + ": " + name + " answered '" + counts +
                           "' without new=0/1 (is mkd-memfs older than mkd-migrate?)");
  }
  if (*reply->new_consumer && syncs_ > 0) {
    return Status::FailedPrecondition(
        path_ +
        ": mkd-memfs lost this migration's dirty-log view (more processes than it keeps "
        "views for synced the file meanwhile): pages may be missing; retry the migration");
  }
  ++syncs_;
  return GetBitmap(mp::SyncedName(consumer_));
}

Result<std::string> RamFile::TableBlob() { return GetChunked(mp::kTable); }

Result<GenerationTable> RamFile::Table() {
  MKD_ASSIGN_OR_RETURN(std::string blob, TableBlob());
  Result<DecodedTable> t = DecodeTable(blob);
  if (!t.ok()) return t.status().WithContext(path_ + ": " + std::string(mp::kTable));
  return std::move(t->table);
}

Result<PageBitmap> RamFile::Reusable(std::string_view peer_table_blob) {
  const std::vector<std::string> chunks = SplitIntoChunks(peer_table_blob);
  for (size_t i = 0; i < chunks.size(); ++i) {
    MKD_RETURN_IF_ERROR(Set(mp::ChunkName(mp::kPeerTable, i), chunks[i]));
  }
  return GetBitmap(mp::kReusable);
}

Result<std::string> RamFile::DigestsBlob() { return GetChunked(mp::kDigests); }

Status RamFile::ReceiveZeros(uint64_t first, uint64_t count, Generation gen) {
  return Set(mp::kReceive, mp::EncodeReceiveFrame(mp::ReceiveKind::kZero, first,
                                                  static_cast<uint32_t>(count), gen, {}));
}

Status RamFile::ReceiveRuns(const std::vector<mp::LaterRun>& runs, std::string_view data) {
  return Set(mp::kReceive, mp::EncodeRunsFrame(runs, data));
}

Status RamFile::ReceiveLater(const std::vector<GenRun>& runs) {
  for (size_t at = 0; at < runs.size(); at += mp::kMaxLaterRuns) {
    std::vector<mp::LaterRun> batch;
    for (size_t i = at; i < std::min(runs.size(), at + mp::kMaxLaterRuns); ++i) {
      batch.push_back({runs[i].first, runs[i].count, runs[i].gen});
    }
    MKD_RETURN_IF_ERROR(Set(mp::kReceive, mp::EncodeLaterFrame(batch)));
  }
  return Status::Ok();
}

Result<WantedPages> RamFile::TakeWanted() {
  MKD_ASSIGN_OR_RETURN(std::string v, Get(mp::kWanted));
  MKD_ASSIGN_OR_RETURN(RamFileSummary s, Summary());
  Result<WantedPages> w = mp::ParseWanted(v, s.pages);
  if (!w.ok()) return w.status().WithContext(path_);
  return w;
}

Result<PostcopyStatus> RamFile::Postcopy() {
  MKD_ASSIGN_OR_RETURN(std::string v, Get(mp::kPostcopy));
  Result<mp::PostcopyStats> st = mp::ParsePostcopyStats(v);
  if (!st.ok()) return st.status().WithContext(path_);
  return PostcopyStatusOf(*st);
}

Status RamFile::FailPostcopy(std::string_view reason) {
  return Set(mp::kPostcopy, mp::FormatPostcopyFail(reason));
}

Result<std::string> RamFile::DirtyBlob() { return GetChunked(mp::kDirty); }

Status RamFile::WriteBack(uint64_t first, uint64_t count) {
  constexpr unsigned kFlags =
      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
  while (::sync_file_range(fd_, static_cast<off_t>(first * kPageSize),
                           static_cast<off_t>(count * kPageSize), kFlags) != 0) {
    if (errno == EINTR) continue;
    return Status::Io(path_ + ": writing back pages " + std::to_string(first) + "+" +
                      std::to_string(count) + ": " + Errno(errno));
  }
  return Status::Ok();
}

Status RamFile::ReadPages(uint64_t first, uint64_t count, char* out) {
  uint64_t done = 0;
  const uint64_t bytes = count * kPageSize;
  while (done < bytes) {
    ssize_t n =
        ::pread(fd_, out + done, bytes - done, static_cast<off_t>(first * kPageSize + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Status::Io(path_ + ": reading pages at " + std::to_string(first) + ": " +
                        (n < 0 ? Errno(errno) : std::string("end of file")));
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Result<PageBitmap> RamFile::Resident(uint64_t pages) {
  const size_t bytes = pages * kPageSize;
  PageBitmap resident(pages);
  if (pages == 0) return resident;
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd_, 0);
  if (map == MAP_FAILED) return Status::Io(path_ + ": mmap for mincore: " + Errno(errno));
  std::vector<unsigned char> in(pages);
  const int rc = ::mincore(map, bytes, in.data());
  const int err = errno;
  ::munmap(map, bytes);
  if (rc != 0) return Status::Io(path_ + ": mincore: " + Errno(err));
  for (uint64_t p = 0; p < pages; ++p) {
    if (in[p] & 1) resident.Set(p);
  }
  return resident;
}

Status RamFile::Fsync() {
  if (::fsync(fd_) != 0) return Status::Io(path_ + ": fsync: " + Errno(errno));
  return Status::Ok();
}

Status SetVmDirXattr(const std::string& vm_dir, std::string_view name, std::string_view value) {
  if (::setxattr(vm_dir.c_str(), std::string(name).c_str(), value.data(), value.size(), 0) != 0) {
    return SetxattrError(errno, vm_dir, name, "the VM");
  }
  return Status::Ok();
}

}  // namespace mkd::migrate
