// Fuzz target for the post-copy values memfs returns and mkd-migrate parses (memfs-protocol/
// postcopy_values.h): user.mkd.wanted and the statistics of user.mkd.postcopy. Untrusted (any
// FUSE daemon can be mounted there). No input may crash a parser or make the JSON library throw;
// a refusal is kCorrupt naming the attribute; accepted values keep THE wanted cap and every page
// below the block's size, and survive a format/parse round trip.
#include <cstddef>
#include <cstdint>

#include "base/check.h"
#include "memfs-protocol/names.h"
#include "memfs-protocol/postcopy_values.h"
#include "tests/fuzz/fuzz_support.h"

namespace mp = mkd::memfs_protocol;

namespace {

constexpr uint64_t kBlockPages = 1000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = mkd::fuzz::AsBytes(data, size);
  mkd::Result<mp::Wanted> w = mp::ParseWanted(bytes, kBlockPages);
  if (w.ok()) {
    MKD_CHECK(mp::IsPostcopyState(w->state) && w->pages.size() <= mp::kWantedMaxPages);
    for (uint64_t p : w->pages) MKD_CHECK(p < kBlockPages);
    const std::string v = mp::FormatWanted(*w);
    MKD_CHECK(v.size() <= mp::kWantedValueMax);
    MKD_CHECK(*mp::ParseWanted(v, kBlockPages) == *w);
  } else {
    MKD_CHECK(w.status().code() == mkd::ErrorCode::kCorrupt);
    MKD_CHECK(w.status().message().find(mp::kWanted) != std::string::npos);
  }
  mkd::Result<mp::PostcopyStats> st = mp::ParsePostcopyStats(bytes);
  if (st.ok()) {
    MKD_CHECK(mp::IsPostcopyState(st->state));
    mkd::Result<mp::PostcopyStats> again = mp::ParsePostcopyStats(mp::FormatPostcopyStats(*st));
    MKD_CHECK(again.ok() && *again == *st);
  } else {
    MKD_CHECK(st.status().code() == mkd::ErrorCode::kCorrupt);
    MKD_CHECK(st.status().message().find(mp::kPostcopy) != std::string::npos);
  }
  return 0;
}
