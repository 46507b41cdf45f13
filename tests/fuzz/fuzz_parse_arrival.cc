// Fuzz target for ParseArrival, ParseAdvance and ParsePostcopyFail (memfs/arrival.h): the value of
// the user.mkd.arrive xattr, which any process that can set an xattr on the mount controls. No
// input may crash the parser or make the JSON library throw; a refusal is kInvalidArgument naming
// the attribute; an accepted value has a valid epoch and a non-nil lineage, and survives a
// format/parse round trip.
#include <cstddef>
#include <cstdint>

#include "base/check.h"
#include "memfs/arrival.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The advance document shares the arrival's parser style and limits: fuzz both.
  mkd::Result<mkd::Epoch> e = mkd::memfs::ParseAdvance(mkd::fuzz::AsBytes(data, size));
  MKD_CHECK(!e.ok() ? e.status().code() == mkd::ErrorCode::kInvalidArgument
                    : mkd::IsValidEpoch(*e));
  mkd::Result<std::string> f = mkd::memfs::ParsePostcopyFail(mkd::fuzz::AsBytes(data, size));
  MKD_CHECK(!f.ok() ? f.status().code() == mkd::ErrorCode::kInvalidArgument
                    : !f->empty() && f->size() <= 512);
  mkd::Result<mkd::memfs::Arrival> a = mkd::memfs::ParseArrival(mkd::fuzz::AsBytes(data, size));
  if (!a.ok()) {
    MKD_CHECK(a.status().code() == mkd::ErrorCode::kInvalidArgument);
    MKD_CHECK(a.status().message().find("user.mkd.arrive") != std::string::npos);
    return 0;
  }
  MKD_CHECK(mkd::IsValidEpoch(a->epoch));
  MKD_CHECK(!a->lineage.IsNil());
  mkd::Result<mkd::memfs::Arrival> again = mkd::memfs::ParseArrival(mkd::memfs::FormatArrival(*a));
  MKD_CHECK(again.ok() && again->epoch == a->epoch && again->lineage == a->lineage);
  return 0;
}
