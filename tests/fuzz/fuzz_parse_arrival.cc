// Fuzz target for the values clients set on a VM directory or RAM file and memfs parses
// (memfs-protocol/arrival.h, postcopy_values.h): user.mkd.arrive, user.mkd.advance and the
// {"fail":...} of user.mkd.postcopy, which any process that can set an xattr on the mount
// controls. No input may crash a parser or make the JSON library throw; a refusal is
// kInvalidArgument naming the attribute; an accepted value is in range and survives a
// format/parse round trip.
#include <cstddef>
#include <cstdint>

#include "base/check.h"
#include "memfs-protocol/arrival.h"
#include "memfs-protocol/names.h"
#include "memfs-protocol/postcopy_values.h"
#include "tests/fuzz/fuzz_support.h"

namespace mp = mkd::memfs_protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = mkd::fuzz::AsBytes(data, size);
  mkd::Result<mkd::Epoch> e = mp::ParseAdvance(bytes);
  if (e.ok()) {
    MKD_CHECK(mkd::IsValidEpoch(*e));
    MKD_CHECK(*mp::ParseAdvance(mp::FormatAdvance(*e)) == *e);
  } else {
    MKD_CHECK(e.status().code() == mkd::ErrorCode::kInvalidArgument);
    MKD_CHECK(e.status().message().find(mp::kAdvance) != std::string::npos);
  }
  mkd::Result<std::string> f = mp::ParsePostcopyFail(bytes);
  if (f.ok()) {
    MKD_CHECK(!f->empty() && f->size() <= mp::kMaxFailReason);
  } else {
    MKD_CHECK(f.status().code() == mkd::ErrorCode::kInvalidArgument);
    MKD_CHECK(f.status().message().find(mp::kPostcopy) != std::string::npos);
  }
  // Whatever a client formats from any reason, memfs accepts.
  MKD_CHECK(mp::ParsePostcopyFail(mp::FormatPostcopyFail(bytes)).ok());
  mkd::Result<mp::Arrival> a = mp::ParseArrival(bytes);
  if (!a.ok()) {
    MKD_CHECK(a.status().code() == mkd::ErrorCode::kInvalidArgument);
    MKD_CHECK(a.status().message().find(mp::kArrive) != std::string::npos);
    return 0;
  }
  MKD_CHECK(mkd::IsValidEpoch(a->epoch));
  MKD_CHECK(!a->lineage.IsNil());
  mkd::Result<mp::Arrival> again = mp::ParseArrival(mp::FormatArrival(*a));
  MKD_CHECK(again.ok() && again->epoch == a->epoch && again->lineage == a->lineage);
  return 0;
}
