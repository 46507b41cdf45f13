// Page digests: XXH3-64 per page, PageDigests (only the pages that are not zero), and the
// envelope (envelope.h) around them: version 2 sparse extents, version 1 raw u64 (read, and
// written for tests only).
#include "genstore/digests.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "base/byte_io.h"
#include "base/check.h"
#include "genstore/envelope.h"
#include "genstore/generation.h"

namespace mkd {
namespace {
constexpr std::string_view kDigestsMagic = "MKDD";
constexpr std::string_view kWhat = "page digests";
constexpr uint16_t kRawVersion = 1;
constexpr uint16_t kSparseVersion = 2;
// Digests appended (and hashed) at a time, so the checksum reads them while they are in cache.
constexpr size_t kHashBlock = 4096;  // 32 KiB

Status Bad(const std::string& why) { return Status::Corrupt(std::string(kWhat) + ": " + why); }

// Appends digests as little-endian u64, hashing every kHashBlock of them.
void AppendDigests(internal::EnvelopeWriter* envelope, std::string* out,
                   std::span<const uint64_t> digests) {
  for (size_t i = 0; i < digests.size(); i += kHashBlock) {
    const size_t n = std::min(kHashBlock, digests.size() - i);
    const size_t at = out->size();
    out->resize(at + n * sizeof(uint64_t));
    std::memcpy(out->data() + at, digests.data() + i, n * sizeof(uint64_t));  // little-endian
    envelope->HashAppended();
  }
}

Result<PageDigests> DecodeRaw(const internal::EnvelopeView& env) {
  const uint64_t pages = env.header.pages;  // <= kMaxPages: no overflow below
  if (env.body.size() != pages * sizeof(uint64_t)) {
    return Bad("body of " + std::to_string(env.body.size()) + " bytes, expected " +
               std::to_string(pages * sizeof(uint64_t)) + " for " + std::to_string(pages) +
               " pages (8 bytes each)");
  }
  PageDigests out(pages);
  std::vector<uint64_t> chunk;
  for (uint64_t first = 0; first < pages; first += kHashBlock) {
    const uint64_t n = std::min<uint64_t>(kHashBlock, pages - first);
    chunk.resize(n);
    std::memcpy(chunk.data(), env.body.data() + first * sizeof(uint64_t), n * sizeof(uint64_t));
    out.Append(first, chunk);
  }
  return out;
}

Result<PageDigests> DecodeSparse(const internal::EnvelopeView& env) {
  const uint64_t pages = env.header.pages;
  const uint64_t zero = ZeroPageDigest();
  PageDigests out(pages);
  internal::ByteReader in(env.body);
  uint64_t end = 0;  // one past the last page of the previous extent
  bool first_extent = true;
  std::vector<uint64_t> digests;
  while (in.remaining() > 0) {
    uint64_t first = 0;
    uint32_t count = 0;
    if (!in.Read(&first) || !in.Read(&count)) return Bad("extent header truncated");
    if (count == 0) return Bad("empty extent at page " + std::to_string(first));
    if (first > pages || count > pages - first) {
      return Bad("extent of pages " + std::to_string(first) + "+" + std::to_string(count) +
                 " is outside the block of " + std::to_string(pages) + " pages");
    }
    if (!first_extent && first <= end) {
      return Bad("extent at page " + std::to_string(first) +
                 " does not follow the previous one with a gap (extents are maximal, in order)");
    }
    // Checked before allocating: the input holds every digest it announces.
    if (in.remaining() / sizeof(uint64_t) < count) {
      return Bad("extent at page " + std::to_string(first) + " announces " + std::to_string(count) +
                 " digests, the body holds fewer");
    }
    std::string_view raw;
    in.ReadBytes(count * sizeof(uint64_t), &raw);
    digests.resize(count);
    std::memcpy(digests.data(), raw.data(), raw.size());
    for (uint32_t i = 0; i < count; ++i) {
      if (digests[i] == zero) {
        return Bad("page " + std::to_string(first + i) +
                   " is recorded with the zero page's digest (a zero page is left out)");
      }
    }
    out.Append(first, digests);
    end = first + count;
    first_extent = false;
  }
  return out;
}

}  // namespace

uint64_t PageDigest(const void* page) { return XXH3_64bits(page, kPageSize); }

uint64_t ZeroPageDigest() {
  static const uint64_t digest = [] {
    static constexpr char kZeros[kPageSize] = {};
    return PageDigest(kZeros);
  }();
  return digest;
}

// ---------------------------------------------------------------- PageDigests

PageDigests::PageDigests(uint64_t pages) : pages_(pages) { MKD_CHECK(pages <= kMaxPages); }

PageDigests PageDigests::FromDense(std::span<const uint64_t> digests) {
  PageDigests out(digests.size());
  out.Append(0, digests);
  return out;
}

uint64_t PageDigests::Get(uint64_t page) const {
  MKD_CHECK(page < pages_);
  // The last extent that starts at or before `page`.
  auto it = std::upper_bound(extents_.begin(), extents_.end(), page,
                             [](uint64_t p, const Extent& e) { return p < e.first; });
  if (it == extents_.begin()) return ZeroPageDigest();
  --it;
  if (page >= it->first + it->count) return ZeroPageDigest();
  return digests_[it->offset + (page - it->first)];
}

void PageDigests::Append(uint64_t first, std::span<const uint64_t> digests) {
  MKD_CHECK(first <= pages_ && digests.size() <= pages_ - first);
  if (!extents_.empty()) MKD_CHECK(first >= extents_.back().first + extents_.back().count);
  const uint64_t zero = ZeroPageDigest();
  for (size_t i = 0; i < digests.size(); ++i) {
    if (digests[i] == zero) continue;
    const uint64_t page = first + i;
    if (extents_.empty() || extents_.back().first + extents_.back().count != page) {
      extents_.push_back(Extent{page, 0, digests_.size()});
    }
    ++extents_.back().count;
    digests_.push_back(digests[i]);
  }
}

std::vector<uint64_t> PageDigests::ToDense() const {
  std::vector<uint64_t> out(pages_, ZeroPageDigest());
  for (const Extent& e : extents_) {
    std::copy_n(digests_.begin() + static_cast<ptrdiff_t>(e.offset), e.count,
                out.begin() + static_cast<ptrdiff_t>(e.first));
  }
  return out;
}

// ---------------------------------------------------------------- encoding

std::string EncodeDigests(const CodecHeader& header, const PageDigests& digests) {
  CodecHeader h = header;
  h.pages = digests.pages();
  std::string out;
  internal::EnvelopeWriter envelope(kDigestsMagic, h, &out, kSparseVersion);
  digests.ForEachExtent([&](uint64_t first, std::span<const uint64_t> d) {
    internal::AppendLe<uint64_t>(&out, first);
    internal::AppendLe<uint32_t>(&out, static_cast<uint32_t>(d.size()));  // <= kMaxPages
    AppendDigests(&envelope, &out, d);
  });
  envelope.Finish();
  return out;
}

std::string EncodeDigests(const CodecHeader& header, std::span<const uint64_t> digests) {
  return EncodeDigests(header, PageDigests::FromDense(digests));
}

std::string internal::EncodeDigestsV1(const CodecHeader& header,
                                      std::span<const uint64_t> digests) {
  CodecHeader h = header;
  h.pages = digests.size();
  std::string out;
  out.reserve(64 + h.block.size() + digests.size_bytes());
  EnvelopeWriter envelope(kDigestsMagic, h, &out, kRawVersion);
  AppendDigests(&envelope, &out, digests);
  envelope.Finish();
  return out;
}

Result<PageDigests> DecodePageDigests(std::string_view bytes, CodecHeader* header) {
  MKD_ASSIGN_OR_RETURN(internal::EnvelopeView env,
                       internal::OpenEnvelope(bytes, kDigestsMagic, kWhat, kSparseVersion));
  Result<PageDigests> out = env.version == kRawVersion ? DecodeRaw(env) : DecodeSparse(env);
  if (out.ok() && header != nullptr) *header = std::move(env.header);
  return out;
}

Result<std::vector<uint64_t>> DecodeDigests(std::string_view bytes, CodecHeader* header,
                                            uint64_t max_pages) {
  CodecHeader h;
  MKD_ASSIGN_OR_RETURN(PageDigests d, DecodePageDigests(bytes, &h));
  if (d.pages() > max_pages) {
    return Bad(std::to_string(d.pages()) + " pages, more than the " + std::to_string(max_pages) +
               " expected");
  }
  if (header != nullptr) *header = std::move(h);
  return d.ToDense();
}

}  // namespace mkd
