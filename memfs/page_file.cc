// PageFile: syscall wrappers for one page-store file (see page_file.h).
#include "memfs/page_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "genstore/generation.h"
#include "genstore/zero_page.h"

namespace mkd::memfs {
namespace {

constexpr uint64_t kPage = kPageSize;

off_t Offset(uint64_t page) { return static_cast<off_t>(page * kPage); }

// pwrite/pread loops that finish partial transfers; return 0 or -errno.
int WriteFull(int fd, const char* data, size_t size, off_t offset) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return 0;
}

int ReadFull(int fd, char* out, size_t size, off_t offset) {
  while (size > 0) {
    ssize_t n = ::pread(fd, out, size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) {  // past the end of the file: zeros, as for a hole
      std::memset(out, 0, size);
      return 0;
    }
    out += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return 0;
}

}  // namespace

Result<PageFile> PageFile::Open(const std::string& path, bool create) {
  int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    return Status::Io("page store file " + path + ": " + std::strerror(errno) +
                      (create ? " (is the --store directory writable and not full?)" : ""));
  }
  return PageFile(fd, path);
}

PageFile::~PageFile() {
  if (fd_ >= 0) ::close(fd_);
}

PageFile::PageFile(PageFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      changes_(other.changes_.load()) {}

PageFile& PageFile::operator=(PageFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    changes_.store(other.changes_.load() + 1);  // another file: no digest of before holds
  }
  return *this;
}

int PageFile::Resize(uint64_t pages) {
  const int rc = ::ftruncate(fd_, Offset(pages)) == 0 ? 0 : -errno;
  changes_.fetch_add(1);
  return rc;
}

int PageFile::ReadPages(uint64_t first, uint64_t count, void* out) const {
  return ReadFull(fd_, static_cast<char*>(out), count * kPage, Offset(first));
}

int PageFile::WritePages(uint64_t first, uint64_t count, const void* data, uint64_t* zero_pages) {
  const char* bytes = static_cast<const char*>(data);
  uint64_t i = 0;
  uint64_t zeros = 0;
  while (i < count) {
    // Gather a run of pages of one kind (all zero, or all with content) and store it at once.
    const bool zero = IsZeroPage(bytes + i * kPage);
    uint64_t end = i + 1;
    while (end < count && IsZeroPage(bytes + end * kPage) == zero) ++end;
    int rc = zero ? PunchPages(first + i, end - i)
                  : WriteFull(fd_, bytes + i * kPage, (end - i) * kPage, Offset(first + i));
    changes_.fetch_add(1);  // after the write, also a failed one (its pages' content is unknown)
    if (rc < 0) return rc;
    if (zero) zeros += end - i;
    i = end;
  }
  if (zero_pages != nullptr) *zero_pages = zeros;
  return 0;
}

int PageFile::PunchPages(uint64_t first, uint64_t count) {
  if (count == 0) return 0;
  const int rc = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, Offset(first),
                             Offset(count)) == 0
                     ? 0
                     : -errno;
  changes_.fetch_add(1);
  return rc;
}

Result<uint64_t> PageFile::ResidentPages() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    return Status::Io("page store file " + path_ + ": " + std::strerror(errno));
  }
  return static_cast<uint64_t>(st.st_blocks) * 512 / kPage;
}

int64_t PageFile::Seek(int64_t offset, bool data) const {
  off_t r = ::lseek(fd_, offset, data ? SEEK_DATA : SEEK_HOLE);
  return r < 0 ? -errno : r;
}

int64_t PageFile::SizeBytes() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return -errno;
  return static_cast<int64_t>(st.st_size);
}

}  // namespace mkd::memfs
