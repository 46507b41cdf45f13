// Formatting and parsing of the sync reply (see sync_reply.h).
#include "memfs-protocol/sync_reply.h"

#include <fmt/format.h>

#include "memfs-protocol/key_values.h"

namespace mkd::memfs_protocol {

std::string FormatSyncReply(const SyncReply& r) {
  std::string v = fmt::format("dirty_pages={} epoch={} syncs={}", r.dirty_pages, r.epoch, r.syncs);
  if (r.new_consumer) v += *r.new_consumer ? " new=1" : " new=0";
  return v;
}

Result<SyncReply> ParseSyncReply(std::string_view value) {
  auto bad = [&](const std::string& why) {
    return Status::Corrupt("user.mkd.sync: " + why + " in \"" +
                           std::string(value.substr(0, kSyncValueMax)) +
                           "\" (is mkd-memfs older or newer than mkd-migrate?)");
  };
  if (value.size() > kSyncValueMax) return bad("longer than " + std::to_string(kSyncValueMax));
  std::optional<internal::KeyValues> kv = internal::SplitKeyValues(value);
  if (!kv || (kv->size() != 3 && kv->size() != 4)) return bad("not 3 or 4 key=value fields");
  constexpr std::string_view kKeys[] = {"dirty_pages", "epoch", "syncs", "new"};
  uint64_t n[4] = {};
  for (size_t i = 0; i < kv->size(); ++i) {
    std::optional<uint64_t> v = internal::ParseDecimal((*kv)[i].second);
    if ((*kv)[i].first != kKeys[i] || !v) return bad("field " + std::to_string(i) + " malformed");
    n[i] = *v;
  }
  if (n[1] > kMaxEpoch) return bad("epoch out of range");
  SyncReply r{n[0], static_cast<Epoch>(n[1]), n[2], std::nullopt};
  if (kv->size() == 4) {
    if (n[3] > 1) return bad("new is neither 0 nor 1");
    r.new_consumer = n[3] == 1;
  }
  return r;
}

}  // namespace mkd::memfs_protocol
