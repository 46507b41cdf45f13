// Page digests: XXH3-64 per page, and the envelope (envelope.h) around them as raw u64.
#include "genstore/digests.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "genstore/byte_io.h"
#include "genstore/envelope.h"
#include "genstore/generation.h"

namespace mkd {
namespace {
constexpr std::string_view kDigestsMagic = "MKDD";
constexpr std::string_view kWhat = "page digests";
// Digests appended (and hashed) at a time, so the checksum reads them while they are in cache.
constexpr size_t kHashBlock = 4096;  // 32 KiB
}  // namespace

uint64_t PageDigest(const void* page) { return XXH3_64bits(page, kPageSize); }

uint64_t ZeroPageDigest() {
  static const uint64_t digest = [] {
    static constexpr char kZeros[kPageSize] = {};
    return PageDigest(kZeros);
  }();
  return digest;
}

std::string EncodeDigests(const CodecHeader& header, std::span<const uint64_t> digests) {
  CodecHeader h = header;
  h.pages = digests.size();
  std::string out;
  out.reserve(64 + h.block.size() + digests.size_bytes());
  internal::EnvelopeWriter envelope(kDigestsMagic, h, &out);
  for (size_t i = 0; i < digests.size(); i += kHashBlock) {
    const size_t n = std::min(kHashBlock, digests.size() - i);
    const size_t at = out.size();
    out.resize(at + n * sizeof(uint64_t));
    std::memcpy(out.data() + at, digests.data() + i, n * sizeof(uint64_t));  // little-endian
    envelope.HashAppended();
  }
  envelope.Finish();
  return out;
}

Result<std::vector<uint64_t>> DecodeDigests(std::string_view bytes, CodecHeader* header) {
  Result<internal::EnvelopeView> env = internal::OpenEnvelope(bytes, kDigestsMagic, kWhat);
  if (!env.ok()) return env.status();
  const uint64_t pages = env->header.pages;  // <= kMaxPages: no overflow below
  if (env->body.size() != pages * sizeof(uint64_t)) {
    return Status::Corrupt(std::string(kWhat) + ": body of " + std::to_string(env->body.size()) +
                           " bytes, expected " + std::to_string(pages * sizeof(uint64_t)) +
                           " for " + std::to_string(pages) + " pages (8 bytes each)");
  }
  std::vector<uint64_t> digests(pages);
  if (pages != 0) std::memcpy(digests.data(), env->body.data(), env->body.size());
  if (header != nullptr) *header = std::move(env->header);
  return digests;
}

}  // namespace mkd
