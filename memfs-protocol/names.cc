// The user.mkd.* names and their helpers (see names.h).
#include "memfs-protocol/names.h"

#include <fmt/format.h>

#include <charconv>

namespace mkd::memfs_protocol {
namespace {

std::string WithSuffix(std::string_view base, std::string_view suffix) {
  std::string name(base);
  if (!suffix.empty()) {
    name += '.';
    name += suffix;
  }
  return name;
}

// `base` or `base`.<something>.
bool IsNameOrSuffixed(std::string_view name, std::string_view base) {
  return name == base || (name.size() > base.size() + 1 && name.substr(0, base.size()) == base &&
                          name[base.size()] == '.');
}

}  // namespace

std::string ChunkName(std::string_view base, uint64_t index) {
  return WithSuffix(base, std::to_string(index));
}

std::string SyncName(std::string_view consumer) { return WithSuffix(kSync, consumer); }

std::string SyncedName(std::string_view consumer) { return WithSuffix(kSynced, consumer); }

std::string TakeName(std::string_view consumer) { return WithSuffix(kTake, consumer); }

bool IsTakeName(std::string_view name) { return IsNameOrSuffixed(name, kTake); }

bool IsSyncName(std::string_view name) { return IsNameOrSuffixed(name, kSync) || IsTakeName(name); }

std::string_view SyncConsumer(std::string_view name) {
  const size_t base = IsTakeName(name) ? kTake.size() : kSync.size();
  return name.size() > base ? name.substr(base + 1) : std::string_view();
}

std::optional<uint32_t> ParseChunkIndex(std::string_view digits) {
  uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
    return std::nullopt;
  }
  return v;
}

std::string FormatChunkDescription(std::string_view base, uint64_t chunks, uint64_t bytes) {
  return fmt::format(
      "chunks={} bytes={} (read {}.0 .. {}.{}; join and decode with mkd-genstore decode)", chunks,
      bytes, base, base, chunks - 1);
}

std::optional<uint32_t> ParseChunkDescription(std::string_view value) {
  constexpr std::string_view kKey = "chunks=";
  if (value.substr(0, kKey.size()) != kKey) return std::nullopt;
  const std::string_view rest = value.substr(kKey.size());
  const size_t space = rest.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::optional<uint32_t> count = ParseChunkIndex(rest.substr(0, space));
  if (!count || *count == 0) return std::nullopt;
  return count;
}

}  // namespace mkd::memfs_protocol
