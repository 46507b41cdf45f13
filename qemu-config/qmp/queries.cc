#include "qemu-config/qmp/queries.h"

#include <cstdint>
#include <limits>
#include <string>

namespace mkd::qmp {
namespace {

using nlohmann::json;

// A reply field of the wrong type (or, when `required`, missing).
Status Bad(std::string_view command, std::string_view field, std::string_view expected,
           bool required = false) {
  return Status::Corrupt(std::string(command) + " reply: \"" + std::string(field) + "\" is " +
                         (required ? "missing or " : "") + "not " + std::string(expected));
}

// Reads optional non-negative integer `object[key]` into `out`; false when of another type.
bool OptionalCount(const json& object, const char* key, std::optional<uint64_t>* out) {
  const auto it = object.find(key);
  if (it == object.end()) return true;
  if (it->is_number_unsigned()) {  // how nlohmann stores every non-negative integer it parses
    *out = it->get<uint64_t>();
    return true;
  }
  if (!it->is_number_integer() || it->get<int64_t>() < 0) return false;
  *out = static_cast<uint64_t>(it->get<int64_t>());  // a value built in code, e.g. json(5)
  return true;
}

// Reads required integer `object[key]` within [min, max]; nullopt when missing, of another type
// (a float, a string, a boolean) or out of range.
std::optional<int64_t> RequiredInteger(const json& object, const char* key, int64_t min,
                                       int64_t max) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  int64_t v = 0;
  if (it->is_number_unsigned()) {
    const auto u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    v = static_cast<int64_t>(u);
  } else {
    v = it->get<int64_t>();
  }
  if (v < min || v > max) return std::nullopt;
  return v;
}

}  // namespace

Result<VmStatus> DecodeVmStatus(const json& value) {
  if (!value.is_object()) return Bad("query-status", "return", "an object", true);
  const auto status = value.find("status");
  if (status == value.end() || !status->is_string()) {
    return Bad("query-status", "status", "a string", true);
  }
  const auto running = value.find("running");
  if (running == value.end() || !running->is_boolean()) {
    return Bad("query-status", "running", "a boolean", true);
  }
  VmStatus out;
  out.status = status->get<std::string>();
  out.running = running->get<bool>();
  return out;
}

Result<MigrationInfo> DecodeMigrationInfo(const json& value) {
  static constexpr std::string_view kCommand = "query-migrate";
  if (!value.is_object()) return Bad(kCommand, "return", "an object", true);
  MigrationInfo out;
  if (const auto it = value.find("status"); it != value.end()) {
    if (!it->is_string()) return Bad(kCommand, "status", "a string");
    out.status = it->get<std::string>();
  }
  if (const auto it = value.find("error-desc"); it != value.end()) {
    if (!it->is_string()) return Bad(kCommand, "error-desc", "a string");
    out.error_desc = it->get<std::string>();
  }
  const std::pair<const char*, std::optional<uint64_t>*> times[] = {
      {"total-time", &out.total_time_ms},
      {"setup-time", &out.setup_time_ms},
      {"downtime", &out.downtime_ms},
      {"expected-downtime", &out.expected_downtime_ms},
  };
  for (const auto& [key, field] : times) {
    if (!OptionalCount(value, key, field)) return Bad(kCommand, key, "a non-negative integer");
  }
  if (const auto ram = value.find("ram"); ram != value.end()) {
    if (!ram->is_object()) return Bad(kCommand, "ram", "an object");
    const std::pair<const char*, std::optional<uint64_t>*> sizes[] = {
        {"total", &out.ram_total_bytes},
        {"transferred", &out.ram_transferred_bytes},
        {"remaining", &out.ram_remaining_bytes},
    };
    for (const auto& [key, field] : sizes) {
      if (!OptionalCount(*ram, key, field)) {
        return Bad(kCommand, std::string("ram.") + key, "a non-negative integer");
      }
    }
  }
  out.raw = value;
  return out;
}

Result<std::vector<VcpuInfo>> DecodeVcpus(const json& value) {
  static constexpr std::string_view kCommand = "query-cpus-fast";
  if (!value.is_array()) return Bad(kCommand, "return", "an array", true);
  if (value.empty() || value.size() > kMaxVcpus) {
    return Status::Corrupt("query-cpus-fast reply: " + std::to_string(value.size()) +
                           " vCPUs, expected 1 to " + std::to_string(kMaxVcpus));
  }
  std::vector<VcpuInfo> out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const json& cpu = value[i];
    const std::string at = "[" + std::to_string(i) + "]";
    if (!cpu.is_object()) return Bad(kCommand, at, "an object", true);
    const std::optional<int64_t> index =
        RequiredInteger(cpu, "cpu-index", 0, std::numeric_limits<int64_t>::max());
    if (!index) return Bad(kCommand, at + ".cpu-index", "an integer >= 0", true);
    // A Linux thread id is a positive pid_t (int).
    const std::optional<int64_t> thread =
        RequiredInteger(cpu, "thread-id", 1, std::numeric_limits<int32_t>::max());
    if (!thread) return Bad(kCommand, at + ".thread-id", "a positive thread id", true);
    out.push_back({.cpu_index = *index, .thread_id = *thread});
  }
  return out;
}

}  // namespace mkd::qmp
