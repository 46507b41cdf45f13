// Internal to memfs-protocol: the "key=value key=value" lines of user.mkd.summary and
// user.mkd.sync. Pure functions; thread-safe.
#ifndef MKD_MEMFS_PROTOCOL_KEY_VALUES_H_
#define MKD_MEMFS_PROTOCOL_KEY_VALUES_H_

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace mkd::memfs_protocol::internal {

using KeyValues = std::vector<std::pair<std::string_view, std::string_view>>;

// Splits on single spaces into key=value pairs that point into `line`. nullopt when a field is
// empty or has no '=', or a key is empty or appears twice.
std::optional<KeyValues> SplitKeyValues(std::string_view line);
// A decimal u64 as fmt writes it (no sign, spaces or leading zeros); nullopt otherwise.
std::optional<uint64_t> ParseDecimal(std::string_view s);

}  // namespace mkd::memfs_protocol::internal

#endif  // MKD_MEMFS_PROTOCOL_KEY_VALUES_H_
