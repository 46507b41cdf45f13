// Fuzz target for DecodeTable and DecodeTableInto (genstore/table_codec.h). No input may crash
// them, and both must agree: DecodeTableInto, into an object left over from earlier decodes (with
// another size and provisional pages), gives what DecodeTable gives. Whatever they accept must
// survive a round trip: the decoded table, encoded again (EncodeTable, and EncodeTableTo into a
// used buffer, which must agree), decodes to itself and re-encodes to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/check.h"
#include "genstore/table_codec.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void DecodeAndRoundTrip(std::string_view bytes, mkd::DecodedTable* reused) {
  mkd::Result<mkd::DecodedTable> decoded = mkd::DecodeTable(bytes);
  const mkd::Status into = mkd::DecodeTableInto(bytes, reused);
  MKD_CHECK(into.ok() == decoded.ok());
  if (!decoded.ok()) {
    mkd::fuzz::CheckRejection(decoded.status());
    MKD_CHECK(into.code() == decoded.status().code());
    MKD_CHECK(into.message() == decoded.status().message());
    return;
  }
  MKD_CHECK(reused->header == decoded->header);
  MKD_CHECK(reused->table == decoded->table);
  MKD_CHECK(decoded->header.pages == decoded->table.pages());
  MKD_CHECK(!decoded->table.has_provisional());

  const std::string encoded = mkd::EncodeTable(decoded->header, decoded->table);
  std::string buffer(bytes);  // stale content, and enough capacity or not depending on the input
  mkd::EncodeTableTo(decoded->header, decoded->table, &buffer);
  MKD_CHECK(buffer == encoded);

  mkd::Result<mkd::DecodedTable> again = mkd::DecodeTable(encoded);
  MKD_CHECK(again.ok());
  MKD_CHECK(again->header == decoded->header);
  MKD_CHECK(again->table == decoded->table);
  MKD_CHECK(mkd::EncodeTable(again->header, again->table) == encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = mkd::fuzz::AsBytes(data, size);

  // What a caller that reuses one DecodedTable may hand in: another size, a pending migration.
  mkd::DecodedTable reused;
  reused.header.block = "stale";
  reused.table = mkd::GenerationTable(size % 97 + 1);
  MKD_CHECK(reused.table.SetProvisional(size % 97, 7).ok());

  DecodeAndRoundTrip(bytes, &reused);
  const std::string fixed = mkd::fuzz::WithValidChecksum(bytes);
  if (fixed != bytes) DecodeAndRoundTrip(fixed, &reused);
  return 0;
}
