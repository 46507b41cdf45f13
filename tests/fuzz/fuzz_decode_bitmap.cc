// Fuzz target for DecodeBitmap (genstore/bitmap_codec.h). No input may crash it, whatever it
// accepts has no bit set past its page count, and survives a round trip: the decoded bitmap,
// encoded again, decodes to itself, and that canonical encoding encodes to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/check.h"
#include "genstore/bitmap_codec.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void DecodeAndRoundTrip(std::string_view bytes) {
  mkd::Result<mkd::DecodedBitmap> decoded = mkd::DecodeBitmap(bytes);
  if (!decoded.ok()) {
    mkd::fuzz::CheckRejection(decoded.status());
    return;
  }
  const mkd::PageBitmap& bitmap = decoded->bitmap;
  MKD_CHECK(decoded->header.pages == bitmap.pages());
  MKD_CHECK(bitmap.words().size() == mkd::PageBitmap::WordsFor(bitmap.pages()));
  const uint64_t tail = bitmap.pages() % 64;
  MKD_CHECK(tail == 0 || (bitmap.words().back() >> tail) == 0);
  MKD_CHECK(bitmap.Count() <= bitmap.pages());

  const std::string encoded = mkd::EncodeBitmap(decoded->header, bitmap);
  mkd::Result<mkd::DecodedBitmap> again = mkd::DecodeBitmap(encoded);
  MKD_CHECK(again.ok());
  MKD_CHECK(again->header == decoded->header);
  MKD_CHECK(again->bitmap == bitmap);
  MKD_CHECK(mkd::EncodeBitmap(again->header, again->bitmap) == encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = mkd::fuzz::AsBytes(data, size);
  DecodeAndRoundTrip(bytes);
  const std::string fixed = mkd::fuzz::WithValidChecksum(bytes);
  if (fixed != bytes) DecodeAndRoundTrip(fixed);
  return 0;
}
