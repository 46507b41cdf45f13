// Per-page content digests: one XXH3-64 per 4 KiB page of a RAM block, and their encoding
// (docs/formats.md, "Page digests"). A host records them beside an incarnation's generation table
// (store.h) so that a page can be checked against what was there when the VM left (e.g. after a
// daemon restart, or by a scrubber), independently of the generations.
//
// The encoding is the standard envelope (envelope.h) with magic "MKDD" around the digests as
// little-endian u64, raw: digests of distinct content do not repeat, so runs would not pay.
// Pure functions; thread-safe.
#ifndef MKD_GENSTORE_DIGESTS_H_
#define MKD_GENSTORE_DIGESTS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "genstore/codec_header.h"
#include "genstore/status.h"

namespace mkd {

// XXH3-64 (seed 0) of one 4 KiB page (kPageSize bytes at `page`, which must all be readable).
uint64_t PageDigest(const void* page);
// The digest of an all-zero page (a hole in a page store reads as zeros). Computed once.
uint64_t ZeroPageDigest();

// Encodes one digest per page in the standard envelope, magic "MKDD": header.pages is taken from
// digests.size() (header.pages is ignored); body = the digests as little-endian u64.
// header.block must pass ValidateBlockName (a programming error otherwise).
std::string EncodeDigests(const CodecHeader& header, std::span<const uint64_t> digests);

// Checks everything (envelope size, magic, version, flags, checksum, pages <= kMaxPages, block
// name, body length == 8 * pages) before allocating; fills *header when not null (left unchanged
// on error). Errors are Corrupt, or Unsupported for unknown versions and flags.
Result<std::vector<uint64_t>> DecodeDigests(std::string_view bytes, CodecHeader* header = nullptr);

}  // namespace mkd

#endif  // MKD_GENSTORE_DIGESTS_H_
