// Fuzz target for ParseChunk and JoinChunks (genstore/chunking.h).
//
// The whole input is parsed as one chunk; it is also cut into chunks by SplitRecords
// (fuzz_support.h: uint32 length-prefixed records), each parsed, and the list joined. Whatever
// ParseChunk accepts must describe a payload inside the chunk of exactly the size its index,
// count and total imply. Whatever JoinChunks accepts must be the canonical chunking of the blob:
// SplitIntoChunks of the joined blob gives back the very same chunks.
//
// Both checksums (per chunk, and the blob hash every chunk repeats) stop almost every mutation,
// so each input is also run with both recomputed (WithValidHashes).
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "genstore/chunking.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

// Chunk layout (docs/formats.md, "Chunks"): the blob hash and the payload offsets.
constexpr size_t kBlobHashOffset = 24;
constexpr size_t kPayloadOffset = 36;

void CheckChunk(std::string_view chunk) {
  mkd::Result<mkd::ChunkInfo> info = mkd::ParseChunk(chunk);
  if (!info.ok()) {
    mkd::fuzz::CheckRejection(info.status());
    return;
  }
  MKD_CHECK(info->count >= 1 && info->count <= mkd::kMaxChunks);
  MKD_CHECK(info->index < info->count);
  MKD_CHECK(info->payload.data() == chunk.data() + kPayloadOffset);
  MKD_CHECK(info->payload.size() + mkd::kChunkOverhead == chunk.size());
  const uint64_t offset = uint64_t{info->index} * mkd::kChunkPayload;
  MKD_CHECK(offset + info->payload.size() <= info->total_size);
  const bool last = info->index + 1 == info->count;
  MKD_CHECK(last ? offset + info->payload.size() == info->total_size
                 : info->payload.size() == mkd::kChunkPayload);

  // A one-chunk blob: joining works exactly when the blob hash is right, and is canonical.
  if (info->count == 1) {
    const std::vector<std::string> alone{std::string(chunk)};
    mkd::Result<std::string> blob = mkd::JoinChunks(alone);
    const bool hash_ok = XXH3_64bits(info->payload.data(), info->payload.size()) == info->blob_hash;
    MKD_CHECK(blob.ok() == hash_ok);
    if (blob.ok()) MKD_CHECK(mkd::SplitIntoChunks(*blob) == alone);
  }
}

void CheckJoin(const std::vector<std::string>& chunks) {
  for (const std::string& chunk : chunks) CheckChunk(chunk);
  mkd::Result<std::string> blob = mkd::JoinChunks(chunks);
  if (!blob.ok()) {
    mkd::fuzz::CheckRejection(blob.status());
    return;
  }
  const std::vector<std::string> again = mkd::SplitIntoChunks(*blob);
  MKD_CHECK(again == chunks);
  mkd::Result<std::string> rejoined = mkd::JoinChunks(again);
  MKD_CHECK(rejoined.ok() && *rejoined == *blob);
}

// Sets the blob hash of every chunk to the hash of all their payloads, then each chunk's checksum.
// Records too short to be a chunk are left alone.
std::vector<std::string> WithValidHashes(std::vector<std::string> chunks) {
  std::string blob;
  for (const std::string& c : chunks) {
    if (c.size() >= mkd::kChunkOverhead) {
      blob.append(c, kPayloadOffset, c.size() - mkd::kChunkOverhead);
    }
  }
  const uint64_t hash = XXH3_64bits(blob.data(), blob.size());
  for (std::string& c : chunks) {
    if (c.size() < mkd::kChunkOverhead) continue;
    std::memcpy(c.data() + kBlobHashOffset, &hash, sizeof(hash));
    c = mkd::fuzz::WithValidChecksum(c);
  }
  return chunks;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = mkd::fuzz::AsBytes(data, size);
  CheckChunk(bytes);
  CheckChunk(WithValidHashes({std::string(bytes)}).front());

  const std::vector<std::string> chunks = mkd::fuzz::SplitRecords(bytes);
  CheckJoin(chunks);
  const std::vector<std::string> fixed = WithValidHashes(chunks);
  if (fixed != chunks) CheckJoin(fixed);
  return 0;
}
