// Fuzz target for DecodeIncarnationMeta (genstore/incarnation.h). No input may crash it (nor make
// the JSON library throw), and whatever it accepts must survive a round trip: the decoded record,
// encoded again, decodes to itself, and that encoding encodes to the same bytes once more.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/check.h"
#include "genstore/incarnation.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mkd::Result<mkd::IncarnationMeta> decoded =
      mkd::DecodeIncarnationMeta(mkd::fuzz::AsBytes(data, size));
  if (!decoded.ok()) {
    mkd::fuzz::CheckRejection(decoded.status());
    return 0;
  }
  const std::string encoded = mkd::EncodeIncarnationMeta(*decoded);
  MKD_CHECK(encoded.size() <= mkd::kMaxIncarnationMetaSize);
  mkd::Result<mkd::IncarnationMeta> again = mkd::DecodeIncarnationMeta(encoded);
  MKD_CHECK(again.ok());
  MKD_CHECK(*again == *decoded);
  MKD_CHECK(mkd::EncodeIncarnationMeta(*again) == encoded);
  return 0;
}
