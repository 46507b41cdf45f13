// Reuse of pages by content on the destination: a host-wide index from the XXH3-64 of a page's
// content to where memfs holds such a page (every VM directory on the local mount: live VMs,
// stored incarnations, the arriving VM's own file), and the check that makes a copied page right.
//
// The index is only a hint. It may be stale (a live VM rewrote the page since its digests were
// read), and XXH3-64 is not collision resistant (a guest can craft two pages with one XXH3-64).
// So Resolve reads the candidate page's current content and copies it only when both the XXH3-64
// and the SHA-256 (content_digest.h) of the bytes read equal the offer's: a stale or colliding
// candidate is a miss, and the source sends the page. Never a wrong page.
//
// Memory: 16 bytes per indexed page (4 MiB per GiB of guest memory with content on the host;
// zero pages are not indexed), capped by max_entries (so at most 16 * max_entries bytes per
// index, plus up to twice that for a moment while Build grows and sorts it). ContentIndexCache
// holds at most two indexes at once: the current one and the one being built (it drops the old
// one when a rebuild starts, so in practice one). A session that holds an index (shared_ptr)
// keeps it alive after the cache replaced it: sessions should let go of it after the first pass,
// or every long session adds an index to the bound.
//
// The ports (ContentFiles, PageReader) are the mount; content_files_mount.h has the real ones,
// tests use fakes.
#ifndef MKD_MIGRATE_TOOL_CONTENT_INDEX_H_
#define MKD_MIGRATE_TOOL_CONTENT_INDEX_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "genstore/digests.h"
#include "migrate-tool/content_digest.h"

namespace mkd::migrate {

// Which files to index, and the digests of each (user.mkd.digests on the mount). Used by one
// thread at a time (the one building an index).
class ContentFiles {
 public:
  virtual ~ContentFiles() = default;
  // The files (paths) whose pages may be reused. An error leaves the index empty.
  virtual Result<std::vector<std::string>> List() = 0;
  // The XXH3-64 of every page of `file` (one of List's). An error skips the file.
  virtual Result<PageDigests> Digests(const std::string& file) = 0;
};

// Reads one page's current content. One per session (it may keep files open); not thread-safe.
class PageReader {
 public:
  virtual ~PageReader() = default;
  // kPageSize bytes of page `page` of `file` into `out`. An error (the file is gone, a stored
  // page whose content is no longer the VM's reads as EIO) is a miss, not a failure.
  virtual Status ReadPage(const std::string& file, uint64_t page, char* out) = 0;
};

// What Resolve found; a session sums these over its lookups for its report.
struct ResolveStats {
  uint64_t lookups = 0;      // Resolve calls
  uint64_t candidates = 0;   // candidate pages read (or tried to)
  uint64_t read_errors = 0;  // candidates whose read failed
  uint64_t stale = 0;        // XXH3-64 of what was read differs from the index: the page changed
  uint64_t collisions = 0;   // XXH3-64 equal, SHA-256 different: another content
  uint64_t hits = 0;         // Resolve calls that returned true
  double read_seconds = 0;   // in the reader (reading candidates)
  double hash_seconds = 0;   // recomputing their XXH3-64 and SHA-256
};

// An index of the pages with content of a set of files, sorted by XXH3-64. Immutable once built;
// thread-safe for const use (Resolve's reader is the caller's).
class ContentIndex {
 public:
  // A digest is looked up in at most this many places: a content many VMs share (a kernel page)
  // has many equal candidates, and one that is right is enough; a digest many pages of a guest
  // were made to collide on costs at most this many reads per offer.
  static constexpr int kMaxCandidates = 4;

  struct Entry {
    uint64_t digest = 0;  // XXH3-64 of the page's content when the digests were read
    uint32_t file = 0;    // index into files()
    uint32_t page = 0;    // page index in that file (< kMaxPages = 2^28)
    bool operator==(const Entry&) const = default;
  };
  static_assert(sizeof(Entry) == 16);

  ContentIndex() = default;  // empty: every Resolve is a miss

  // Reads the file list and each file's digests and indexes every page whose digest is not the
  // zero page's (zero pages travel as ZEROS frames anyway), at most `max_entries` of them (then
  // truncated(), and the files and pages after the cap are left out). Never fails: a file whose
  // digests cannot be read or decoded, or with more than kMaxPages pages, is skipped (counted in
  // files_skipped(), one warning each); a failing List gives an empty index and a warning.
  static ContentIndex Build(ContentFiles& files, uint64_t max_entries);

  // No file: Resolve's `except_file` when every file may serve.
  static constexpr uint32_t kNoFile = UINT32_MAX;

  // Looks `digest` up and tries at most kMaxCandidates of its entries, in index order, leaving
  // out those of files()[except_file] (skipped in one step, not tried): reads each through
  // `reader` and returns true, with that content in `out` (kPageSize bytes), only when the
  // XXH3-64 and the SHA-256 of the bytes read equal `digest` and `sha`. False when none does
  // (`out` is then left unchanged). Read errors are misses. Adds to *stats when not null.
  bool Resolve(PageReader& reader, uint64_t digest, const Sha256& sha, char* out,
               ResolveStats* stats, uint32_t except_file = kNoFile) const;

  // The number of `file` in files() (what Entry::file holds), kNoFile when it is not there.
  uint32_t FileNumber(std::string_view file) const;

  // Sorted by (digest, file, page).
  const std::vector<Entry>& entries() const { return entries_; }
  // The files as List named them; Entry::file indexes this. Files skipped are in it too.
  const std::vector<std::string>& files() const { return files_; }
  // The memory of the entries (16 bytes each); the file names (one path per file) are not counted.
  uint64_t bytes() const { return entries_.capacity() * sizeof(Entry); }
  bool truncated() const { return truncated_; }
  uint64_t files_skipped() const { return files_skipped_; }
  // Wall time Build took (reading the digests, sorting).
  double build_seconds() const { return build_seconds_; }

 private:
  std::vector<Entry> entries_;
  std::vector<std::string> files_;
  bool truncated_ = false;
  uint64_t files_skipped_ = 0;
  double build_seconds_ = 0;
};

// The index of a serve process, shared by all its sessions and rebuilt when it is older than
// max_age. Thread-safe.
//
// Get builds on the calling thread, without holding the mutex, at most one build at a time: a
// caller that finds the index missing or too old while another build runs waits for that build
// and gets its result. The age counts from the start of the build (the digests are at least that
// old). A stale index is dropped when its rebuild starts (callers wait for the new one anyway),
// so the cache holds at most two indexes (the current and the one being built), in practice one;
// each at most 16 * max_entries bytes.
class ContentIndexCache {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  using FilesFactory = std::function<std::unique_ptr<ContentFiles>()>;

  // `factory` is called once per build (on the building thread) for the files to index; it may
  // return null (an empty index). `clock` is for tests.
  ContentIndexCache(FilesFactory factory, uint64_t max_entries,
                    std::chrono::steady_clock::duration max_age,
                    Clock clock = std::chrono::steady_clock::now);
  ContentIndexCache(const ContentIndexCache&) = delete;
  ContentIndexCache& operator=(const ContentIndexCache&) = delete;

  // The current index (never null), built first when there is none or it is older than max_age.
  std::shared_ptr<const ContentIndex> Get();
  // Builds a new index now, on the calling thread, and makes it the current one (serve
  // --content-index-refresh keeps an index warm so that arrivals need not wait for a build). Get
  // goes on returning the current index meanwhile, so for that while the cache holds two. Returns
  // at once when a build runs already.
  void Refresh();
  // Builds completed so far (for the log and tests).
  uint64_t builds() const;

 private:
  // Builds with `lock` (on mu_) held on entry, released while building; `keep_current`: serve the
  // current index until the new one replaces it (Refresh), else drop it first (Get's rebuild of a
  // stale index).
  std::shared_ptr<const ContentIndex> BuildNow(std::unique_lock<std::mutex>& lock,
                                               bool keep_current);

  const FilesFactory factory_;
  const uint64_t max_entries_;
  const std::chrono::steady_clock::duration max_age_;
  const Clock clock_;

  mutable std::mutex mu_;          // guards everything below; never held while building
  std::condition_variable built_;  // notified when a build ends
  std::shared_ptr<const ContentIndex> current_;
  std::chrono::steady_clock::time_point built_at_;  // when current_'s build started
  bool building_ = false;
  uint64_t builds_ = 0;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_CONTENT_INDEX_H_
