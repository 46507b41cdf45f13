// The chunked form of an encoded object (docs/formats.md, "Chunks"): a blob cut into chunks that
// each fit one Linux xattr value (64 KiB), so large tables can be read with getxattr as
// user.mkd.<name>.0, .1, ... Every chunk carries the index, the count, the blob's length and the
// blob's XXH3-64, so chunks of two different blobs (the table changed between two reads) are
// detected and reported instead of being glued together. Pure functions; thread-safe.
#ifndef MKD_GENSTORE_CHUNKING_H_
#define MKD_GENSTORE_CHUNKING_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mkd {

inline constexpr size_t kMaxChunkSize = 65536;  // Linux XATTR_SIZE_MAX
inline constexpr size_t kChunkOverhead = 44;    // header + trailing checksum
inline constexpr size_t kChunkPayload = kMaxChunkSize - kChunkOverhead;
inline constexpr uint32_t kMaxChunks = 1u << 16;  // blobs up to ~4 GiB

// Cuts `blob` into ceil(size / kChunkPayload) chunks (one chunk for an empty blob).
// blob.size() must be at most kMaxChunks * kChunkPayload (checked).
std::vector<std::string> SplitIntoChunks(std::string_view blob);

struct ChunkInfo {
  uint32_t index = 0;
  uint32_t count = 0;
  uint64_t total_size = 0;
  uint64_t blob_hash = 0;
  std::string_view payload;  // points into the chunk passed to ParseChunk
};

// Checks one chunk on its own: magic, version, its checksum, index < count <= kMaxChunks, and a
// payload size consistent with its index, the count and the total size.
Result<ChunkInfo> ParseChunk(std::string_view chunk);

// Reassembles the blob from all its chunks, in index order. Fails on a missing, extra, repeated
// or foreign chunk, and when the result does not hash to the blob hash the chunks announce.
Result<std::string> JoinChunks(std::span<const std::string> chunks);

}  // namespace mkd

#endif  // MKD_GENSTORE_CHUNKING_H_
