// Fuzz target for DecodeDigests (genstore/digests.h). No input may crash it, whatever it accepts
// holds exactly one digest per page, and the encoding is canonical: an accepted input is
// byte for byte what EncodeDigests writes for the decoded header and digests.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "genstore/check.h"
#include "genstore/digests.h"
#include "genstore/generation.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void DecodeAndRoundTrip(std::string_view bytes) {
  mkd::CodecHeader header;
  mkd::Result<std::vector<uint64_t>> decoded = mkd::DecodeDigests(bytes, &header);
  if (!decoded.ok()) {
    mkd::fuzz::CheckRejection(decoded.status());
    return;
  }
  MKD_CHECK(header.pages == decoded->size());
  MKD_CHECK(header.pages <= mkd::kMaxPages);
  MKD_CHECK(mkd::EncodeDigests(header, *decoded) == bytes);
  mkd::Result<std::vector<uint64_t>> without_header = mkd::DecodeDigests(bytes);
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
