// Typed QMP migration commands (QEMU 7.2's qapi/migration.json and qapi/misc.json): the
// capabilities mkd-migrate sets and clears, migrate / migrate-incoming / migrate-continue /
// migrate_cancel / migrate-start-postcopy, the bandwidth parameter, and stop / cont. The
// migration tool calls these instead of QmpClient::Execute with JSON written inline, so every
// argument object is built in one place (the capability list in EncodeCapabilities only).
//
// Each function runs one command through QmpClient::Execute and has its error model: a QEMU
// refusal is a Status "QMP command '<name>' failed: <class>: <desc>", a deadline kIo, a broken
// connection kFailedPrecondition. The reply's "return" value ({} for all of these) is dropped.
// Thread-compatible like the client they take. Never throw.
#ifndef MKD_QEMU_CONFIG_QMP_MIGRATION_H_
#define MKD_QEMU_CONFIG_QMP_MIGRATION_H_

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "genstore/status.h"
#include "qemu-config/qmp/client.h"

namespace mkd::qmp {

// The migration capabilities miyakodori uses (QEMU's MigrationCapability).
enum class MigrationCapability : uint8_t {
  kXIgnoreShared,          // "x-ignore-shared": RAM in shared memory backends is not sent
  kPauseBeforeSwitchover,  // "pause-before-switchover": stop at pre-switchover, wait for us
  kPostcopyRam,            // "postcopy-ram": QEMU's own post-copy (we do ours in memfs)
  kEvents,                 // "events": MIGRATION / MIGRATION_PASS events
};

// QEMU's name of `c`, e.g. "x-ignore-shared".
std::string_view CapabilityName(MigrationCapability c);

struct CapabilitySetting {
  MigrationCapability capability;
  bool state;
};

// The "capabilities" argument of migrate-set-capabilities:
// [{"capability": "x-ignore-shared", "state": true}, ...], in the given order.
nlohmann::json EncodeCapabilities(const std::vector<CapabilitySetting>& settings);

// migrate-set-capabilities. QEMU refuses it while a migration runs (GenericError).
Status SetMigrationCapabilities(QmpClient& qmp, const std::vector<CapabilitySetting>& settings,
                                std::chrono::milliseconds timeout = kDefaultCommandTimeout);

// migrate-set-parameters {"max-bandwidth": bytes_per_second} (QEMU's own stream cap).
Status SetMaxBandwidth(QmpClient& qmp, uint64_t bytes_per_second,
                       std::chrono::milliseconds timeout = kDefaultCommandTimeout);

// migrate {"uri": uri}: starts the outgoing migration ("unix:/path", "tcp:host:port", ...);
// returns once QEMU accepted it (the migration then runs on; see query-migrate).
Status Migrate(QmpClient& qmp, std::string_view uri,
               std::chrono::milliseconds timeout = kDefaultCommandTimeout);

// migrate-incoming {"uri": uri}: a -incoming defer destination starts listening.
Status MigrateIncoming(QmpClient& qmp, std::string_view uri,
                       std::chrono::milliseconds timeout = kDefaultCommandTimeout);

// migrate-continue {"state": "pre-switchover"}: lets a migration paused by
// pause-before-switchover go on to the device state and completion.
Status MigrateContinue(QmpClient& qmp, std::chrono::milliseconds timeout = kDefaultCommandTimeout);

// migrate_cancel: cancels the outgoing migration (query-migrate then says "cancelling", then
// "cancelled"). Harmless when none runs.
Status MigrateCancel(QmpClient& qmp, std::chrono::milliseconds timeout = kDefaultCommandTimeout);

// migrate-start-postcopy: switches a running migration with postcopy-ram to post-copy.
Status MigrateStartPostcopy(QmpClient& qmp,
                            std::chrono::milliseconds timeout = kDefaultCommandTimeout);

// stop / cont: pauses / resumes the guest's vCPUs.
Status Stop(QmpClient& qmp, std::chrono::milliseconds timeout = kDefaultCommandTimeout);
Status Cont(QmpClient& qmp, std::chrono::milliseconds timeout = kDefaultCommandTimeout);

}  // namespace mkd::qmp

#endif  // MKD_QEMU_CONFIG_QMP_MIGRATION_H_
