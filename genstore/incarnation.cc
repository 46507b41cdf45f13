// Incarnation metadata: JSON encoding, and a decoder that checks every field before use.
#include "genstore/incarnation.h"

#include <nlohmann/json.hpp>

#include "base/host_id.h"
#include "genstore/codec_header.h"

namespace mkd {
namespace {
constexpr std::string_view kFormat = "mkd-incarnation";
constexpr int kVersion = 2;
using Json = nlohmann::json;

Status Bad(const std::string& why) { return Status::Corrupt("incarnation metadata: " + why); }

// Reads an unsigned integer field no larger than `max`.
Status GetUnsigned(const Json& doc, const char* name, uint64_t max, uint64_t* out) {
  auto it = doc.find(name);
  if (it == doc.end()) return Bad(std::string("field '") + name + "' is missing");
  if (!it->is_number_unsigned()) {
    return Bad(std::string("field '") + name + "' must be a non-negative integer");
  }
  uint64_t v = it->get<uint64_t>();
  if (v > max) return Bad(std::string("field '") + name + "' is out of range");
  *out = v;
  return Status::Ok();
}

Status GetString(const Json& doc, const char* name, std::string* out) {
  auto it = doc.find(name);
  if (it == doc.end()) return Bad(std::string("field '") + name + "' is missing");
  if (!it->is_string()) return Bad(std::string("field '") + name + "' must be a string");
  *out = it->get<std::string>();
  return Status::Ok();
}

Status GetUuid(const Json& doc, const char* name, Uuid* out) {
  std::string text;
  MKD_RETURN_IF_ERROR(GetString(doc, name, &text));
  Result<Uuid> uuid = Uuid::Parse(text);
  if (!uuid.ok()) return Bad(std::string("field '") + name + "': " + uuid.status().message());
  *out = *uuid;
  return Status::Ok();
}

uint64_t NonNegative(int64_t ms) { return ms < 0 ? 0 : static_cast<uint64_t>(ms); }
}  // namespace

std::string_view IncarnationStateName(IncarnationState state) {
  switch (state) {
    case IncarnationState::kLive:
      return "live";
    case IncarnationState::kIncoming:
      return "incoming";
    case IncarnationState::kStored:
      return "stored";
  }
  return "unknown";
}

std::string EncodeIncarnationMeta(const IncarnationMeta& m) {
  Json doc = {
      {"format", kFormat},
      {"version", kVersion},
      {"vm", m.key.vm.ToString()},
      {"block", m.key.block},
      {"incarnation", m.key.incarnation},
      {"lineage", m.lineage.ToString()},
      {"state", IncarnationStateName(m.state)},
      {"epoch", m.epoch},
      {"pages", m.pages},
      {"host_id", m.host_id},
      {"updated_unix_ms", NonNegative(m.updated_unix_ms)},
      {"left_unix_ms", NonNegative(m.left_unix_ms)},
      {"serial", m.serial},
  };
  return doc.dump();
}

Result<IncarnationMeta> DecodeIncarnationMeta(std::string_view text) {
  if (text.size() > kMaxIncarnationMetaSize) {
    return Bad("document of " + std::to_string(text.size()) + " bytes exceeds 4096");
  }
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Bad("not valid JSON");
  if (!doc.is_object()) return Bad("not a JSON object");

  std::string format;
  MKD_RETURN_IF_ERROR(GetString(doc, "format", &format));
  if (format != kFormat) return Bad("format is '" + format + "', expected 'mkd-incarnation'");
  uint64_t version = 0;
  MKD_RETURN_IF_ERROR(GetUnsigned(doc, "version", UINT32_MAX, &version));
  if (version == 1) {
    return Status::Unsupported(
        "incarnation metadata version 1 predates lineages (this build reads version 2 only); "
        "the record was written by a development build: delete it, or move the store aside "
        "and let the host rebuild");
  }
  if (version != kVersion) {
    return Status::Unsupported("incarnation metadata version " + std::to_string(version) +
                               " (this build reads version 2; a newer miyakodori wrote it: "
                               "upgrade miyakodori on this host)");
  }

  IncarnationMeta m;
  std::string state;
  uint64_t epoch = 0, updated = 0, left = 0;
  MKD_RETURN_IF_ERROR(GetUuid(doc, "vm", &m.key.vm));
  MKD_RETURN_IF_ERROR(GetString(doc, "block", &m.key.block));
  if (Status s = ValidateBlockName(m.key.block); !s.ok()) return Bad(s.message());
  MKD_RETURN_IF_ERROR(GetUnsigned(doc, "incarnation", UINT64_MAX, &m.key.incarnation));
  MKD_RETURN_IF_ERROR(GetUuid(doc, "lineage", &m.lineage));
  if (m.lineage.IsNil()) {
    return Bad("field 'lineage' is the nil UUID; every life of a VM has a random lineage");
  }
  MKD_RETURN_IF_ERROR(GetString(doc, "state", &state));
  if (state == "live") {
    m.state = IncarnationState::kLive;
  } else if (state == "incoming") {
    m.state = IncarnationState::kIncoming;
  } else if (state == "stored") {
    m.state = IncarnationState::kStored;
  } else {
    return Bad("unknown state '" + state + "'");
  }
  MKD_RETURN_IF_ERROR(GetUnsigned(doc, "epoch", kMaxEpoch, &epoch));
  m.epoch = static_cast<Epoch>(epoch);
  MKD_RETURN_IF_ERROR(GetUnsigned(doc, "pages", kMaxPages, &m.pages));
  MKD_RETURN_IF_ERROR(GetString(doc, "host_id", &m.host_id));
  if (Status s = ValidateHostId(m.host_id); !s.ok()) return Bad(s.message());
  MKD_RETURN_IF_ERROR(GetUnsigned(doc, "updated_unix_ms", INT64_MAX, &updated));
  m.updated_unix_ms = static_cast<int64_t>(updated);
  MKD_RETURN_IF_ERROR(GetUnsigned(doc, "left_unix_ms", INT64_MAX, &left));
  m.left_unix_ms = static_cast<int64_t>(left);
  MKD_RETURN_IF_ERROR(GetUnsigned(doc, "serial", UINT64_MAX, &m.serial));
  return m;
}

}  // namespace mkd
