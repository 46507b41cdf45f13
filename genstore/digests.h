// Per-page content digests: one XXH3-64 per 4 KiB page of a RAM block, and their encoding
// (docs/formats.md, "Page digests"). A host records them beside an incarnation's generation table
// (store.h) so that a page can be checked against what was there when the VM left (e.g. after a
// daemon restart, or by a scrubber), independently of the generations.
//
// A page that is a hole in the page store reads as zeros and has the zero page's digest. Most
// pages of a large RAM file are holes (QEMU sizes the file to the whole RAM; the guest writes
// what it uses), so PageDigests keeps only the digests that differ from the zero page's, in
// extents: its memory and its encoding (version 2, sparse) follow the pages written, not the
// size of the block. Version 1 (raw, 8 bytes per page) is still read.
// Pure functions and value types; thread-compatible (concurrent const use is safe).
#ifndef MKD_GENSTORE_DIGESTS_H_
#define MKD_GENSTORE_DIGESTS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "genstore/codec_header.h"

namespace mkd {

// XXH3-64 (seed 0) of one 4 KiB page (kPageSize bytes at `page`, which must all be readable).
uint64_t PageDigest(const void* page);
// The digest of an all-zero page (a hole in a page store reads as zeros). Computed once.
uint64_t ZeroPageDigest();

// The digest of every page of a block; pages not recorded have the zero page's digest. Holds
// 8 bytes per page whose digest is not the zero page's, plus 24 bytes per extent of such pages.
class PageDigests {
 public:
  PageDigests() = default;
  // `pages` pages (<= kMaxPages, checked), all with the zero page's digest.
  explicit PageDigests(uint64_t pages);
  // One digest per page, as given.
  static PageDigests FromDense(std::span<const uint64_t> digests);

  uint64_t pages() const { return pages_; }
  // The digest of `page` (< pages(), checked). O(log extents).
  uint64_t Get(uint64_t page) const;
  // Records the digests of pages [first, first + digests.size()). Pages must be recorded in
  // increasing order: `first` is at or after the end of everything recorded so far, and the
  // range is inside the block (both checked: a programming error). Zero-page digests are not
  // kept (they are the default).
  void Append(uint64_t first, std::span<const uint64_t> digests);
  // Pages whose digest is not the zero page's.
  uint64_t stored() const { return digests_.size(); }
  // One digest per page (8 bytes per page: for small blocks and tools).
  std::vector<uint64_t> ToDense() const;
  // Calls fn(first, std::span<const uint64_t> digests) for each extent of pages whose digest is
  // not the zero page's, in page order. Extents are maximal: neighbouring ones are separated by
  // at least one zero-digest page.
  template <typename Fn>
  void ForEachExtent(Fn&& fn) const;

  bool operator==(const PageDigests& other) const = default;

 private:
  struct Extent {
    uint64_t first = 0;
    uint64_t count = 0;
    uint64_t offset = 0;  // index of the extent's first digest in digests_
    bool operator==(const Extent&) const = default;
  };
  uint64_t pages_ = 0;
  std::vector<Extent> extents_;
  std::vector<uint64_t> digests_;
};

template <typename Fn>
void PageDigests::ForEachExtent(Fn&& fn) const {
  for (const Extent& e : extents_) {
    fn(e.first, std::span<const uint64_t>(digests_.data() + e.offset, e.count));
  }
}

// Encodes digests in the standard envelope, magic "MKDD", version 2 (sparse): header.pages is
// taken from digests.pages(); the body is the extents of PageDigests, each first page (u64),
// page count (u32) and digests (u64). header.block must pass ValidateBlockName (a programming
// error otherwise). Its size is 8 bytes per page with content plus 12 per extent.
std::string EncodeDigests(const CodecHeader& header, const PageDigests& digests);
// The same for one digest per page (header.pages is taken from digests.size()).
std::string EncodeDigests(const CodecHeader& header, std::span<const uint64_t> digests);

// Checks everything (envelope size, magic, version 1 or 2, flags, checksum, pages <= kMaxPages,
// block name; version 1: body length == 8 * pages; version 2: every extent inside the block,
// after the previous one with a gap, not empty, without a zero-page digest, the body consumed
// exactly) before allocating more than the input's size; fills *header when not null (left
// unchanged on error). Errors are Corrupt, or Unsupported for unknown versions and flags.
// Canonical: an accepted input is byte for byte what EncodeDigests (or, for version 1,
// internal::EncodeDigestsV1) writes for the decoded header and digests.
Result<PageDigests> DecodePageDigests(std::string_view bytes, CodecHeader* header = nullptr);
// The same, one digest per page. Allocates 8 bytes per page of the header's page count, which a
// version 2 input of a few bytes may set to kMaxPages (2 GiB): callers that get digests from
// elsewhere check the page count they expect with `max_pages` (Corrupt above it).
Result<std::vector<uint64_t>> DecodeDigests(std::string_view bytes, CodecHeader* header = nullptr,
                                            uint64_t max_pages = UINT64_MAX);

namespace internal {
// Version 1 (raw: the digests as little-endian u64 in page order), as earlier builds wrote it;
// for tests and the fuzz target's canonical check.
std::string EncodeDigestsV1(const CodecHeader& header, std::span<const uint64_t> digests);
}  // namespace internal

}  // namespace mkd

#endif  // MKD_GENSTORE_DIGESTS_H_
