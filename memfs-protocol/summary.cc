// Formatting and parsing of the user.mkd.summary lines (see summary.h).
#include "memfs-protocol/summary.h"

#include <fmt/format.h>

#include "genstore/codec_header.h"
#include "memfs-protocol/key_values.h"

namespace mkd::memfs_protocol {
namespace {

constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};

Status Bad(std::string_view line, const std::string& why) {
  return Status::Corrupt("user.mkd.summary: " + why + " in \"" + std::string(line.substr(0, 200)) +
                         "\" (is this a mkd-memfs mount?)");
}

// The fields of one line, taken by key; Done() says whether every field was taken.
class Fields {
 public:
  explicit Fields(internal::KeyValues kv) : kv_(std::move(kv)), taken_(kv_.size(), false) {}

  std::optional<std::string_view> Take(std::string_view key) {
    for (size_t i = 0; i < kv_.size(); ++i) {
      if (kv_[i].first == key && !taken_[i]) {
        taken_[i] = true;
        return kv_[i].second;
      }
    }
    return std::nullopt;
  }
  bool Number(std::string_view key, uint64_t* out) {
    std::optional<std::string_view> v = Take(key);
    std::optional<uint64_t> n = v ? internal::ParseDecimal(*v) : std::nullopt;
    if (n) *out = *n;
    return n.has_value();
  }
  bool Id(std::string_view key, Uuid* out) {
    std::optional<std::string_view> v = Take(key);
    if (!v) return false;
    Result<Uuid> u = Uuid::Parse(*v);
    if (!u.ok()) return false;
    *out = *u;
    return true;
  }
  bool Done() const {
    for (bool t : taken_) {
      if (!t) return false;
    }
    return true;
  }

 private:
  internal::KeyValues kv_;
  std::vector<bool> taken_;
};

Result<Fields> Split(std::string_view line) {
  if (line.size() > kSummaryValueMax) return Bad(line, "longer than an xattr value");
  std::optional<internal::KeyValues> kv = internal::SplitKeyValues(line);
  if (!kv) return Bad(line, "not key=value fields separated by single spaces");
  return Fields(std::move(*kv));
}

bool IsState(std::string_view s) { return s == "live" || s == "incoming" || s == "stored"; }

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{}B", bytes);
  std::string s = fmt::format("{:.1f}", v);
  if (s.size() > 2 && s.substr(s.size() - 2) == ".0") s.resize(s.size() - 2);
  return s + kUnits[unit];
}

std::optional<uint64_t> ParseHumanBytes(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) return std::nullopt;
  const std::optional<uint64_t> parsed = internal::ParseDecimal(text.substr(0, digits));
  if (!parsed) return std::nullopt;
  const uint64_t whole = *parsed;
  std::string_view rest = text.substr(digits);
  if (rest == "B") return whole;
  uint64_t tenths = 0;
  if (rest.size() >= 2 && rest[0] == '.' && rest[1] >= '1' && rest[1] <= '9') {
    tenths = static_cast<uint64_t>(rest[1] - '0');
    rest = rest.substr(2);
  }
  for (int unit = 1; unit < 5; ++unit) {
    if (rest != kUnits[unit]) continue;
    const uint64_t scale = uint64_t{1} << (10 * unit);
    if (whole == 0 || whole > UINT64_MAX / scale - 1) return std::nullopt;
    const uint64_t bytes = whole * scale + (tenths * scale + 5) / 10;
    // "1024KiB" is what HumanBytes writes for 1 MiB - 1: one byte below the candidate.
    for (uint64_t b : {bytes, bytes - 1}) {
      if (HumanBytes(b) == text) return b;
    }
    return std::nullopt;  // e.g. "1.0MiB", "01KiB", "1024.5KiB": HumanBytes never writes them
  }
  return std::nullopt;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseSummaryFields(std::string_view line) {
  if (line.size() > kSummaryValueMax) return Bad(line, "longer than an xattr value");
  std::optional<internal::KeyValues> kv = internal::SplitKeyValues(line);
  if (!kv) return Bad(line, "not key=value fields separated by single spaces");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : *kv) out.emplace_back(k, v);
  return out;
}

std::string FormatBlockSummary(const BlockSummary& s) {
  std::string out = fmt::format(
      "state={} vm={} block={} incarnation={} epoch={} lineage={} pages={} size={} "
      "resident={} held={}",
      s.state, s.vm.ToString(), s.block, s.incarnation, s.epoch, s.lineage.ToString(), s.pages,
      HumanBytes(s.pages * kPageSize), s.resident, HumanBytes(s.resident * kPageSize));
  out += fmt::format(" dirty_since_sync={} dirty_since_arrival={} lost={} syncs={}",
                     s.dirty_since_sync, s.dirty_since_arrival, s.lost, s.syncs);
  out += fmt::format(
      " writes={} pages_written={} zero_pages_written={} refused_writes={} failed_writes={} "
      "pages_received={} pages_punched={} pages_evicted={}",
      s.writes, s.pages_written, s.zero_pages_written, s.refused_writes, s.failed_writes,
      s.pages_received, s.pages_punched, s.pages_evicted);
  if (s.left_unix_ms > 0) out += fmt::format(" left_unix_ms={}", s.left_unix_ms);
  out += fmt::format(" record={}", s.record);
  return out;
}

Result<BlockSummary> ParseBlockSummary(std::string_view line) {
  MKD_ASSIGN_OR_RETURN(Fields f, Split(line));
  BlockSummary s;
  std::optional<std::string_view> state = f.Take("state");
  if (!state || !IsState(*state)) return Bad(line, "no state live, incoming or stored");
  s.state = *state;
  std::optional<std::string_view> block = f.Take("block");
  if (!f.Id("vm", &s.vm) || !block || !ValidateBlockName(*block).ok()) {
    return Bad(line, "malformed vm or block");
  }
  s.block = *block;
  uint64_t epoch = 0;
  if (!f.Number("incarnation", &s.incarnation) || !f.Number("epoch", &epoch) || epoch > kMaxEpoch ||
      !f.Id("lineage", &s.lineage) || !f.Number("pages", &s.pages) || s.pages > kMaxPages ||
      !f.Number("resident", &s.resident)) {
    return Bad(line, "missing or malformed incarnation/epoch/lineage/pages/resident");
  }
  s.epoch = static_cast<Epoch>(epoch);
  if (f.Take("size") != HumanBytes(s.pages * kPageSize) ||
      f.Take("held") != HumanBytes(s.resident * kPageSize)) {
    return Bad(line, "size or held does not match pages or resident");
  }
  const std::pair<const char*, uint64_t*> counts[] = {
      {"dirty_since_sync", &s.dirty_since_sync},
      {"dirty_since_arrival", &s.dirty_since_arrival},
      {"lost", &s.lost},
      {"syncs", &s.syncs},
      {"writes", &s.writes},
      {"pages_written", &s.pages_written},
      {"zero_pages_written", &s.zero_pages_written},
      {"refused_writes", &s.refused_writes},
      {"failed_writes", &s.failed_writes},
      {"pages_received", &s.pages_received},
      {"pages_punched", &s.pages_punched},
      {"pages_evicted", &s.pages_evicted},
  };
  for (const auto& [key, out] : counts) {
    if (!f.Number(key, out)) return Bad(line, std::string("missing or malformed ") + key);
  }
  if (std::optional<std::string_view> left = f.Take("left_unix_ms")) {
    std::optional<uint64_t> ms = internal::ParseDecimal(*left);
    if (!ms || *ms == 0) return Bad(line, "malformed left_unix_ms");
    s.left_unix_ms = *ms;
  }
  std::optional<std::string_view> record = f.Take("record");
  if (!record || (*record != "saved" && *record != "saving" && *record != "failed")) {
    return Bad(line, "no record saved, saving or failed");
  }
  s.record = *record;
  if (!f.Done()) return Bad(line, "unknown field");
  return s;
}

std::string FormatVmSummary(const VmSummary& s) {
  std::string blocks;
  for (const auto& [name, state] : s.blocks) {
    if (!blocks.empty()) blocks += ",";
    blocks += name + ":" + state;
  }
  return fmt::format("vm={} blocks={} arrival={}", s.vm.ToString(),
                     blocks.empty() ? "none" : blocks,
                     s.arrival ? FormatArrival(*s.arrival) : "none");
}

Result<VmSummary> ParseVmSummary(std::string_view line) {
  MKD_ASSIGN_OR_RETURN(Fields f, Split(line));
  VmSummary s;
  std::optional<std::string_view> blocks = f.Take("blocks");
  std::optional<std::string_view> arrival = f.Take("arrival");
  if (!f.Id("vm", &s.vm) || !blocks || !arrival || !f.Done()) {
    return Bad(line, "not exactly vm, blocks and arrival");
  }
  if (*blocks != "none") {
    std::string_view rest = *blocks;
    while (true) {
      const size_t comma = rest.find(',');
      const std::string_view item = rest.substr(0, comma);
      const size_t colon = item.rfind(':');
      if (colon == std::string_view::npos || !ValidateBlockName(item.substr(0, colon)).ok() ||
          !IsState(item.substr(colon + 1))) {
        return Bad(line, "malformed blocks");
      }
      s.blocks.emplace_back(item.substr(0, colon), item.substr(colon + 1));
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  if (*arrival != "none") {
    Result<Arrival> a = ParseArrival(*arrival);
    if (!a.ok()) return Bad(line, "malformed arrival");
    s.arrival = *a;
  }
  return s;
}

std::string FormatHostSummary(const HostSummary& s) {
  return fmt::format(
      "host={} vms={} live={} incoming={} stored={} stored_held={} budget={} live_held={} "
      "unsaved={} max_file_size={}",
      s.host_id, s.vms, s.live, s.incoming, s.stored, HumanBytes(s.stored_held_bytes),
      s.budget_bytes ? HumanBytes(*s.budget_bytes) : "none", HumanBytes(s.live_held_bytes),
      s.unsaved, s.max_file_size);
}

Result<HostSummary> ParseHostSummary(std::string_view line) {
  MKD_ASSIGN_OR_RETURN(Fields f, Split(line));
  HostSummary s;
  std::optional<std::string_view> host = f.Take("host");
  if (!host || host->empty()) return Bad(line, "no host");
  s.host_id = *host;
  auto human = [&](std::string_view key, uint64_t* out) {
    std::optional<std::string_view> v = f.Take(key);
    std::optional<uint64_t> n = v ? ParseHumanBytes(*v) : std::nullopt;
    if (n) *out = *n;
    return n.has_value();
  };
  std::optional<std::string_view> budget = f.Take("budget");
  if (budget && *budget != "none") {
    s.budget_bytes = ParseHumanBytes(*budget);
    if (!s.budget_bytes) budget.reset();
  }
  if (!f.Number("vms", &s.vms) || !f.Number("live", &s.live) ||
      !f.Number("incoming", &s.incoming) || !f.Number("stored", &s.stored) ||
      !human("stored_held", &s.stored_held_bytes) || !budget ||
      !human("live_held", &s.live_held_bytes) || !f.Number("unsaved", &s.unsaved) ||
      !f.Number("max_file_size", &s.max_file_size) || !f.Done()) {
    return Bad(line, "not exactly the host's fields, each well-formed");
  }
  return s;
}

}  // namespace mkd::memfs_protocol
