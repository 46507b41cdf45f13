// Chunked form: splitting, per-chunk validation and reassembly.
#include "genstore/chunking.h"

#include <xxhash.h>

#include <algorithm>

#include "base/byte_io.h"
#include "base/check.h"

namespace mkd {
namespace {
using internal::AppendLe;
constexpr std::string_view kChunkMagic = "MKDC";
constexpr uint16_t kChunkVersion = 1;
// magic(4) version(2) flags(2) index(4) count(4) total(8) blob_hash(8) payload_len(4)
constexpr size_t kChunkHeader = 4 + 2 + 2 + 4 + 4 + 8 + 8 + 4;
static_assert(kChunkHeader + 8 == kChunkOverhead);

uint64_t ChunksFor(uint64_t size) {
  return size == 0 ? 1 : (size + kChunkPayload - 1) / kChunkPayload;
}
}  // namespace

std::vector<std::string> SplitIntoChunks(std::string_view blob) {
  const uint64_t count = ChunksFor(blob.size());
  MKD_CHECK(count <= kMaxChunks);
  const uint64_t hash = XXH3_64bits(blob.data(), blob.size());
  std::vector<std::string> chunks;
  chunks.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view payload =
        blob.substr(std::min<size_t>(i * kChunkPayload, blob.size()), kChunkPayload);
    std::string c;
    c.reserve(kChunkOverhead + payload.size());
    c.append(kChunkMagic);
    AppendLe<uint16_t>(&c, kChunkVersion);
    AppendLe<uint16_t>(&c, 0);
    AppendLe<uint32_t>(&c, static_cast<uint32_t>(i));
    AppendLe<uint32_t>(&c, static_cast<uint32_t>(count));
    AppendLe<uint64_t>(&c, blob.size());
    AppendLe<uint64_t>(&c, hash);
    AppendLe<uint32_t>(&c, static_cast<uint32_t>(payload.size()));
    c.append(payload);
    AppendLe<uint64_t>(&c, XXH3_64bits(c.data(), c.size()));
    chunks.push_back(std::move(c));
  }
  return chunks;
}

Result<ChunkInfo> ParseChunk(std::string_view chunk) {
  if (chunk.size() < kChunkOverhead || chunk.size() > kMaxChunkSize) {
    return Status::Corrupt("chunk of " + std::to_string(chunk.size()) +
                           " bytes: a chunk has 44 to 65536 bytes");
  }
  if (chunk.substr(0, 4) != kChunkMagic) return Status::Corrupt("chunk: wrong magic");
  internal::ByteReader in(chunk.substr(0, chunk.size() - 8));
  std::string_view skip;
  in.ReadBytes(4, &skip);
  uint16_t version = 0, flags = 0;
  uint32_t payload_len = 0;
  ChunkInfo info;
  in.Read(&version);
  in.Read(&flags);
  if (version != kChunkVersion) {
    return Status::Unsupported("chunk: format version " + std::to_string(version) +
                               " (this build reads version 1)");
  }
  uint64_t stored_sum = 0;
  std::memcpy(&stored_sum, chunk.data() + chunk.size() - 8, 8);
  if (XXH3_64bits(chunk.data(), chunk.size() - 8) != stored_sum) {
    return Status::Corrupt("chunk: checksum mismatch (damaged or truncated)");
  }
  if (flags != 0) return Status::Unsupported("chunk: unknown flags " + std::to_string(flags));
  in.Read(&info.index);
  in.Read(&info.count);
  in.Read(&info.total_size);
  in.Read(&info.blob_hash);
  in.Read(&payload_len);
  if (info.count == 0 || info.count > kMaxChunks || info.index >= info.count) {
    return Status::Corrupt("chunk: index " + std::to_string(info.index) + " of " +
                           std::to_string(info.count) + " chunks is impossible");
  }
  if (ChunksFor(info.total_size) != info.count) {
    return Status::Corrupt("chunk: " + std::to_string(info.count) + " chunks cannot hold " +
                           std::to_string(info.total_size) + " bytes");
  }
  const uint64_t offset = uint64_t{info.index} * kChunkPayload;
  const uint64_t expected = std::min<uint64_t>(kChunkPayload, info.total_size - offset);
  if (payload_len != expected || payload_len != in.remaining()) {
    return Status::Corrupt("chunk " + std::to_string(info.index) + ": payload of " +
                           std::to_string(payload_len) + " bytes, expected " +
                           std::to_string(expected));
  }
  in.ReadBytes(payload_len, &info.payload);
  return info;
}

Result<std::string> JoinChunks(std::span<const std::string> chunks) {
  if (chunks.empty()) return Status::Corrupt("no chunks to join");
  // Check every chunk before allocating: the size announced by chunk 0 is not trusted until the
  // chunks given actually hold it.
  std::vector<ChunkInfo> infos;
  infos.reserve(std::min<size_t>(chunks.size(), kMaxChunks));
  uint64_t payload_bytes = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    MKD_ASSIGN_OR_RETURN(ChunkInfo info, ParseChunk(chunks[i]));
    const ChunkInfo& first = i == 0 ? info : infos.front();
    if (i == 0 && first.count != chunks.size()) {
      return Status::Corrupt("chunks announce " + std::to_string(first.count) + " chunks but " +
                             std::to_string(chunks.size()) + " were given");
    }
    if (info.count != first.count || info.total_size != first.total_size ||
        info.blob_hash != first.blob_hash) {
      return Status::Corrupt("chunk " + std::to_string(i) +
                             " belongs to another version of the object (it changed while being "
                             "read; read all chunks again)");
    }
    if (info.index != i) {
      return Status::Corrupt("chunk at position " + std::to_string(i) + " has index " +
                             std::to_string(info.index));
    }
    payload_bytes += info.payload.size();
    infos.push_back(info);
  }
  // ParseChunk checked each payload size against its index, the count and the total size.
  MKD_CHECK(payload_bytes == infos.front().total_size);
  std::string blob;
  blob.reserve(payload_bytes);
  for (const ChunkInfo& info : infos) blob.append(info.payload);
  if (XXH3_64bits(blob.data(), blob.size()) != infos.front().blob_hash) {
    return Status::Corrupt("joined chunks do not hash to the announced value");
  }
  return blob;
}

}  // namespace mkd
