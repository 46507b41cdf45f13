// Formatting and parsing of the arrival and advance values (see arrival.h).
#include "memfs-protocol/arrival.h"

#include <nlohmann/json.hpp>

namespace mkd::memfs_protocol {
namespace {
Status Bad(const std::string& why) {
  return Status::InvalidArgument(
      "user.mkd.arrive: " + why +
      " (expected {\"epoch\": <1..4294967294>, \"lineage\": \"<uuid>\"})");
}
}  // namespace

Result<Arrival> ParseArrival(std::string_view text) {
  if (text.size() > kMaxArrivalSize) return Bad("value longer than 1024 bytes");
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Bad("not a JSON object");
  if (doc.size() != 2) return Bad("exactly two fields are expected");
  auto epoch = doc.find("epoch");
  auto lineage = doc.find("lineage");
  if (epoch == doc.end() || !epoch->is_number_unsigned()) return Bad("'epoch' is missing");
  if (lineage == doc.end() || !lineage->is_string()) return Bad("'lineage' is missing");
  const uint64_t e = epoch->get<uint64_t>();
  if (!IsValidEpoch(e)) return Bad("'epoch' is out of range");
  Result<Uuid> u = Uuid::Parse(lineage->get<std::string>());
  if (!u.ok()) return Bad("'lineage' is not a UUID");
  if (u->IsNil()) return Bad("'lineage' is the nil UUID");
  return Arrival{static_cast<Epoch>(e), *u};
}

Result<Epoch> ParseAdvance(std::string_view text) {
  auto bad = [](const std::string& why) {
    return Status::InvalidArgument("user.mkd.advance: " + why +
                                   " (expected {\"epoch\": <1..4294967294>})");
  };
  if (text.size() > kMaxArrivalSize) return bad("value longer than 1024 bytes");
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  auto epoch = doc.find("epoch");
  if (doc.size() != 1 || epoch == doc.end() || !epoch->is_number_unsigned()) {
    return bad("exactly the field 'epoch' is expected");
  }
  const uint64_t e = epoch->get<uint64_t>();
  if (!IsValidEpoch(e)) return bad("'epoch' is out of range");
  return static_cast<Epoch>(e);
}

std::string FormatArrival(const Arrival& arrival) {
  nlohmann::json doc = {{"epoch", arrival.epoch}, {"lineage", arrival.lineage.ToString()}};
  return doc.dump();
}

std::string FormatAdvance(Epoch epoch) {
  nlohmann::json doc = {{"epoch", epoch}};
  return doc.dump();
}

}  // namespace mkd::memfs_protocol
