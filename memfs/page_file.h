// PageFile: the pages of one incarnation in the page store, a sparse file in a tmpfs directory
// (docs/memfs.md). A hole reads as zeros and holds no memory, so never-written and all-zero
// pages cost nothing; resident pages are exactly the file's allocated blocks.
//
// Thin wrappers over pread/pwrite/fallocate that return negative errno (the FUSE layer's
// convention) and take page indexes, never raw offsets. They do not check indexes against a
// block size: the caller (Block) does that before any call. Writes of whole pages only.
//
// Thread-safe as the kernel makes it: concurrent calls on distinct pages are fine; the caller
// orders calls on the same page. Move-only owner of its file descriptor.
#ifndef MKD_MEMFS_PAGE_FILE_H_
#define MKD_MEMFS_PAGE_FILE_H_

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include "base/status.h"

namespace mkd::memfs {

class PageFile {
 public:
  PageFile() = default;
  // Opens `path`, creating an empty file when `create` (an existing one is kept as it is). Only
  // a PageStore (page_store.h) calls it: it alone names the files of the page store.
  static Result<PageFile> Open(const std::string& path, bool create);
  // Takes ownership of an open descriptor (e.g. a memfd of an in-memory page store) that
  // messages call `path`.
  static PageFile Adopt(int fd, std::string path) { return PageFile(fd, std::move(path)); }
  ~PageFile();
  PageFile(PageFile&& other) noexcept;
  PageFile& operator=(PageFile&& other) noexcept;
  PageFile(const PageFile&) = delete;
  PageFile& operator=(const PageFile&) = delete;

  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Sets the file size to `pages` pages (sparse).
  int Resize(uint64_t pages);
  // Reads `count` pages starting at `first` into `out` (holes read as zeros).
  int ReadPages(uint64_t first, uint64_t count, void* out) const;
  // Stores `count` pages from `data`: every all-zero page becomes a hole, others are written.
  // Returns 0 or a negative errno (-ENOSPC when the page store is full); on error some pages
  // may have been written, which the caller treats as "content of these pages unknown".
  // *zero_pages (when given) receives how many of the pages were all zeros.
  int WritePages(uint64_t first, uint64_t count, const void* data, uint64_t* zero_pages = nullptr);
  // Frees pages [first, first + count): they become holes (read as zeros).
  int PunchPages(uint64_t first, uint64_t count);
  // Pages that hold memory (allocated blocks of the file).
  Result<uint64_t> ResidentPages() const;
  // Calls fn(first, count) for each run of resident pages (SEEK_DATA/SEEK_HOLE), in order, up
  // to `pages`.
  template <typename Fn>
  int ForEachResidentRun(uint64_t pages, Fn&& fn) const;

  // The file's size in bytes (fstat), or -errno.
  int64_t SizeBytes() const;
  // The PageStore renamed the file (the descriptor stays valid).
  void set_path(std::string path) { path_ = std::move(path); }
  // Counts the changes made through this object (WritePages, PunchPages, Resize), each counted
  // once it returned: equal counts before and after a read of the whole file mean no change
  // completed meanwhile (Block's digest cache relies on it; nothing else writes the file).
  uint64_t changes() const { return changes_.load(); }

 private:
  PageFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  // The next data offset at or after `offset` (or hole when `data` is false), or -errno; -ENXIO
  // when there is no more data.
  int64_t Seek(int64_t offset, bool data) const;

  int fd_ = -1;
  std::string path_;
  std::atomic<uint64_t> changes_{0};
};

template <typename Fn>
int PageFile::ForEachResidentRun(uint64_t pages, Fn&& fn) const {
  const int64_t end = static_cast<int64_t>(pages * 4096);
  int64_t pos = 0;
  while (pos < end) {
    int64_t data = Seek(pos, /*data=*/true);
    if (data == -ENXIO) return 0;  // no data after pos
    if (data < 0) return static_cast<int>(data);
    if (data >= end) return 0;
    int64_t hole = Seek(data, /*data=*/false);
    if (hole < 0) return static_cast<int>(hole);
    if (hole > end) hole = end;
    const uint64_t first = static_cast<uint64_t>(data) / 4096;
    const uint64_t last = (static_cast<uint64_t>(hole) + 4095) / 4096;
    fn(first, last - first);
    pos = hole;
  }
  return 0;
}

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_PAGE_FILE_H_
