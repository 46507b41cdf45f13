// Fuzz target for DecodePageDigests and DecodeDigests (genstore/digests.h). No input may crash
// them, whatever they accept describes exactly its header's pages, and the encoding is
// canonical: an accepted input is byte for byte what EncodeDigests (version 2, sparse) or
// internal::EncodeDigestsV1 (version 1, raw) writes for the decoded header and digests.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "genstore/digests.h"
#include "genstore/generation.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void DecodeAndRoundTrip(std::string_view bytes) {
  mkd::CodecHeader header;
  mkd::Result<mkd::PageDigests> decoded = mkd::DecodePageDigests(bytes, &header);
  if (!decoded.ok()) {
    mkd::fuzz::CheckRejection(decoded.status());
    return;
  }
  MKD_CHECK(header.pages == decoded->pages());
  MKD_CHECK(header.pages <= mkd::kMaxPages);
  MKD_CHECK(decoded->stored() * sizeof(uint64_t) <= bytes.size());  // no more than it holds
  const bool v1 = bytes[4] == 1;
  if (v1) {
    const std::vector<uint64_t> dense = decoded->ToDense();  // 8 bytes a page: bounded by input
    MKD_CHECK(mkd::internal::EncodeDigestsV1(header, dense) == bytes);
    mkd::Result<std::vector<uint64_t>> again = mkd::DecodeDigests(bytes);
    MKD_CHECK(again.ok() && *again == dense);
  } else {
    MKD_CHECK(mkd::EncodeDigests(header, *decoded) == bytes);
    // The dense decoder agrees, within a page count it was told to expect.
    mkd::Result<std::vector<uint64_t>> dense = mkd::DecodeDigests(bytes, nullptr, 1 << 16);
    MKD_CHECK(dense.ok() == (header.pages <= (1 << 16)));
    if (dense.ok()) MKD_CHECK(mkd::PageDigests::FromDense(*dense) == *decoded);
  }
  mkd::Result<mkd::PageDigests> without_header = mkd::DecodePageDigests(bytes);
  MKD_CHECK(without_header.ok());
  MKD_CHECK(*without_header == *decoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = mkd::fuzz::AsBytes(data, size);
  DecodeAndRoundTrip(bytes);
  const std::string fixed = mkd::fuzz::WithValidChecksum(bytes);
  if (fixed != bytes) DecodeAndRoundTrip(fixed);
  return 0;
}
