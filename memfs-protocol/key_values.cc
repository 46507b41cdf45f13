// Splitting key=value lines (see key_values.h).
#include "memfs-protocol/key_values.h"

#include <charconv>

namespace mkd::memfs_protocol::internal {

std::optional<KeyValues> SplitKeyValues(std::string_view line) {
  KeyValues out;
  size_t pos = 0;
  while (pos <= line.size()) {
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    const std::string_view field = line.substr(pos, end - pos);
    const size_t eq = field.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    const std::string_view key = field.substr(0, eq);
    for (const auto& kv : out) {
      if (kv.first == key) return std::nullopt;
    }
    out.emplace_back(key, field.substr(eq + 1));
    pos = end + 1;
  }
  return out;
}

std::optional<uint64_t> ParseDecimal(std::string_view s) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;  // one spelling per number
  return v;
}

}  // namespace mkd::memfs_protocol::internal
