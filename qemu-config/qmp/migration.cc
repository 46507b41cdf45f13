// Typed QMP migration commands (see migration.h).
#include "qemu-config/qmp/migration.h"

#include <string>

namespace mkd::qmp {
namespace {

using nlohmann::json;

Status Run(QmpClient& qmp, std::string_view command, const json& arguments,
           std::chrono::milliseconds timeout) {
  return qmp.Execute(command, arguments, timeout).status();
}

}  // namespace

std::string_view CapabilityName(MigrationCapability c) {
  switch (c) {
    case MigrationCapability::kXIgnoreShared:
      return "x-ignore-shared";
    case MigrationCapability::kPauseBeforeSwitchover:
      return "pause-before-switchover";
    case MigrationCapability::kPostcopyRam:
      return "postcopy-ram";
    case MigrationCapability::kEvents:
      return "events";
  }
  return "unknown";
}

json EncodeCapabilities(const std::vector<CapabilitySetting>& settings) {
  json list = json::array();
  for (const CapabilitySetting& s : settings) {
    list.push_back({{"capability", std::string(CapabilityName(s.capability))}, {"state", s.state}});
  }
  return list;
}

Status SetMigrationCapabilities(QmpClient& qmp, const std::vector<CapabilitySetting>& settings,
                                std::chrono::milliseconds timeout) {
  return Run(qmp, "migrate-set-capabilities", {{"capabilities", EncodeCapabilities(settings)}},
             timeout);
}

Status SetMaxBandwidth(QmpClient& qmp, uint64_t bytes_per_second,
                       std::chrono::milliseconds timeout) {
  return Run(qmp, "migrate-set-parameters", {{"max-bandwidth", bytes_per_second}}, timeout);
}

Status Migrate(QmpClient& qmp, std::string_view uri, std::chrono::milliseconds timeout) {
  return Run(qmp, "migrate", {{"uri", std::string(uri)}}, timeout);
}

Status MigrateIncoming(QmpClient& qmp, std::string_view uri, std::chrono::milliseconds timeout) {
  return Run(qmp, "migrate-incoming", {{"uri", std::string(uri)}}, timeout);
}

Status MigrateContinue(QmpClient& qmp, std::chrono::milliseconds timeout) {
  return Run(qmp, "migrate-continue", {{"state", "pre-switchover"}}, timeout);
}

Status MigrateCancel(QmpClient& qmp, std::chrono::milliseconds timeout) {
  return Run(qmp, "migrate_cancel", nullptr, timeout);
}

Status MigrateStartPostcopy(QmpClient& qmp, std::chrono::milliseconds timeout) {
  return Run(qmp, "migrate-start-postcopy", nullptr, timeout);
}

Status Stop(QmpClient& qmp, std::chrono::milliseconds timeout) {
  return Run(qmp, "stop", nullptr, timeout);
}

Status Cont(QmpClient& qmp, std::chrono::milliseconds timeout) {
  return Run(qmp, "cont", nullptr, timeout);
}

}  // namespace mkd::qmp
