// Helpers shared by the fuzz targets in tests/fuzz (not part of genstore's API).
// Every check aborts through MKD_CHECK, which libFuzzer and replay_main both report as a crash.
// Pure functions; thread-safe.
#ifndef MKD_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define MKD_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "base/status.h"

namespace mkd::fuzz {

// libFuzzer's input as bytes (data may be null when size is 0).
inline std::string_view AsBytes(const uint8_t* data, size_t size) {
  return size == 0 ? std::string_view()
                   : std::string_view(reinterpret_cast<const char*>(data), size);
}

// A decoder that refuses untrusted bytes must call them corrupt or unsupported, and say why.
inline void CheckRejection(const Status& status) {
  MKD_CHECK(status.code() == ErrorCode::kCorrupt || status.code() == ErrorCode::kUnsupported);
  MKD_CHECK(!status.message().empty());
}

// Every genstore encoding (table, bitmap, chunk) ends in the XXH3-64 of the bytes before it.
// A mutated input almost never carries a right one, so the targets also decode a copy whose last
// 8 bytes are replaced by the right checksum: that is how the fuzzer gets past the check into
// the header and body parsers. Inputs shorter than 8 bytes are returned unchanged.
inline std::string WithValidChecksum(std::string_view bytes) {
  std::string out(bytes);
  if (out.size() < sizeof(uint64_t)) return out;
  const size_t covered = out.size() - sizeof(uint64_t);
  const uint64_t sum = XXH3_64bits(out.data(), covered);
  std::memcpy(out.data() + covered, &sum, sizeof(sum));
  return out;
}

// The input layout of fuzz_join_chunks: a sequence of records, each a little-endian uint32 length
// followed by that many bytes; a length running past the end takes what remains, and fewer than
// 4 trailing bytes are ignored. Each record is one chunk.
inline std::vector<std::string> SplitRecords(std::string_view bytes) {
  std::vector<std::string> records;
  while (bytes.size() >= sizeof(uint32_t)) {
    uint32_t length = 0;
    std::memcpy(&length, bytes.data(), sizeof(length));
    bytes.remove_prefix(sizeof(length));
    const size_t n = length < bytes.size() ? length : bytes.size();
    records.emplace_back(bytes.substr(0, n));
    bytes.remove_prefix(n);
  }
  return records;
}

// The inverse of SplitRecords (for make_corpus). Each record must be shorter than 4 GiB.
inline std::string JoinRecords(const std::vector<std::string>& records) {
  std::string out;
  for (const std::string& r : records) {
    const auto length = static_cast<uint32_t>(r.size());
    MKD_CHECK(length == r.size());
    out.append(reinterpret_cast<const char*>(&length), sizeof(length));
    out.append(r);
  }
  return out;
}

}  // namespace mkd::fuzz

#endif  // MKD_TESTS_FUZZ_FUZZ_SUPPORT_H_
