// Formatting and parsing of the post-copy values (see postcopy_values.h).
#include "memfs-protocol/postcopy_values.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace mkd::memfs_protocol {

bool IsPostcopyState(std::string_view state) {
  return state == "active" || state == "complete" || state == "failed";
}

size_t WantedPagesFor(size_t buffer) {
  if (buffer < kWantedMinBuffer) return 0;
  return (std::min(buffer, kWantedValueMax) - kWantedFrameBytes) / kWantedPageBytes;
}

std::string FormatWanted(const Wanted& w) {
  return fmt::format(R"({{"state":"{}","missing":{},"pages":[{}]}})", w.state, w.missing,
                     fmt::join(w.pages, ","));
}

Result<Wanted> ParseWanted(std::string_view json, uint64_t block_pages) {
  auto bad = [](const std::string& why) {
    return Status::Corrupt("user.mkd.wanted: " + why + " (is this a mkd-memfs mount?)");
  };
  if (json.size() > kWantedValueMax) return bad("longer than " + std::to_string(kWantedValueMax));
  nlohmann::json d = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (d.is_discarded() || !d.is_object() || d.size() != 3 || !d.contains("state") ||
      !d.contains("missing") || !d.contains("pages")) {
    return bad("not {\"state\", \"missing\", \"pages\"}");
  }
  if (!d["state"].is_string() || !d["missing"].is_number_unsigned() || !d["pages"].is_array() ||
      d["pages"].size() > kWantedMaxPages) {
    return bad("a field has the wrong type or size");
  }
  Wanted w;
  w.state = d["state"].get<std::string>();
  if (!IsPostcopyState(w.state)) return bad("unknown state");
  w.missing = d["missing"].get<uint64_t>();
  w.pages.reserve(d["pages"].size());
  for (const nlohmann::json& p : d["pages"]) {
    if (!p.is_number_unsigned() || p.get<uint64_t>() >= block_pages) return bad("bad page");
    w.pages.push_back(p.get<uint64_t>());
  }
  return w;
}

std::string FormatPostcopyStats(const PostcopyStats& st) {
  nlohmann::json doc = {{"state", st.state},
                        {"missing", st.missing},
                        {"total", st.total},
                        {"fetched", st.fetched},
                        {"pushed", st.pushed},
                        {"skipped", st.skipped},
                        {"faults", st.faults},
                        {"parked", st.parked},
                        {"fault_median_ms", st.fault_median_ms},
                        {"fault_p99_ms", st.fault_p99_ms},
                        {"fault_max_ms", st.fault_max_ms},
                        {"seconds", st.seconds}};
  if (!st.reason.empty()) doc["reason"] = st.reason;
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<PostcopyStats> ParsePostcopyStats(std::string_view json) {
  auto bad = [](const std::string& why) {
    return Status::Corrupt("user.mkd.postcopy: " + why + " (is this a mkd-memfs mount?)");
  };
  if (json.size() > kPostcopyValueMax) {
    return bad("longer than " + std::to_string(kPostcopyValueMax));
  }
  nlohmann::json d = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (d.is_discarded() || !d.is_object()) return bad("not a JSON object");
  PostcopyStats st;
  size_t fields = 12;
  if (d.contains("reason")) {
    if (!d["reason"].is_string()) return bad("'reason' is not a string");
    st.reason = d["reason"].get<std::string>();
    if (st.reason.empty() || st.reason.size() > kMaxFailReason) {
      return bad("'reason' is not 1..512 bytes");
    }
    ++fields;
  }
  if (d.size() != fields) return bad("not exactly the fields of the statistics");
  if (!d.contains("state") || !d["state"].is_string()) return bad("no state");
  st.state = d["state"].get<std::string>();
  if (!IsPostcopyState(st.state)) return bad("unknown state");
  auto count = [&](const char* name, uint64_t* out) {
    if (!d.contains(name) || !d[name].is_number_unsigned()) return false;
    *out = d[name].get<uint64_t>();
    return true;
  };
  auto time = [&](const char* name, double* out) {
    if (!d.contains(name) || !d[name].is_number()) return false;
    *out = d[name].get<double>();
    return std::isfinite(*out) && *out >= 0;
  };
  if (!count("missing", &st.missing) || !count("total", &st.total) ||
      !count("fetched", &st.fetched) || !count("pushed", &st.pushed) ||
      !count("skipped", &st.skipped) || !count("faults", &st.faults) ||
      !count("parked", &st.parked) || !time("fault_median_ms", &st.fault_median_ms) ||
      !time("fault_p99_ms", &st.fault_p99_ms) || !time("fault_max_ms", &st.fault_max_ms) ||
      !time("seconds", &st.seconds)) {
    return bad("a field is missing or malformed");
  }
  return st;
}

std::string FormatPostcopyFail(std::string_view reason) {
  std::string kept(reason.substr(0, kFailReasonKept));
  for (char& c : kept) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  if (kept.empty()) kept = "unknown";
  nlohmann::json doc = {{"fail", kept}};
  return doc.dump();
}

Result<std::string> ParsePostcopyFail(std::string_view text) {
  auto bad = [](const std::string& why) {
    return Status::InvalidArgument("user.mkd.postcopy: " + why +
                                   " (expected {\"fail\": \"<reason>\"})");
  };
  if (text.size() > kMaxFailValueSize) return bad("value longer than 1024 bytes");
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  auto fail = doc.find("fail");
  if (doc.size() != 1 || fail == doc.end() || !fail->is_string()) {
    return bad("exactly the string field 'fail' is expected");
  }
  std::string reason = fail->get<std::string>();
  if (reason.empty() || reason.size() > kMaxFailReason) return bad("'fail' must be 1..512 bytes");
  return reason;
}

}  // namespace mkd::memfs_protocol
