// VirshMigration: the real DomainMigration (source_ports.h) for VMs libvirt manages. It runs
// `virsh migrate --live DOMAIN DEST_URI --migrateuri unix:///...` as a child process and reads
// its outcome; libvirt then starts the destination QEMU and the source QEMU's `migrate` into our
// stream tunnel (docs/libvirt.md). Touches only the child processes it starts and its log file.
// Why virsh and not libvirt's C API: docs/decisions.md ("libvirt").
// One thread at a time.
#ifndef MKD_MIGRATE_TOOL_LIBVIRT_MIGRATION_H_
#define MKD_MIGRATE_TOOL_LIBVIRT_MIGRATION_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "migrate-tool/source_ports.h"

namespace mkd::migrate {

struct VirshOptions {
  std::string virsh = "virsh";
  std::string connect = "qemu:///system";  // the source's libvirt (virsh -c)
  std::string destination;                 // the destination's libvirt URI
  std::string domain;                      // the domain's name
  std::string log_path;                    // virsh's output, for its error message
};

// The end of what a child printed to `path`, for an error message: at most `max` characters
// from the first whole line among them (or "..." and the end of a longer last line), newlines as
// spaces; "" when the file is empty or unreadable.
std::string OutputTail(const std::string& path, size_t max = 600);

// The argv of `virsh migrate` for these options (tests check it).
std::vector<std::string> VirshMigrateArgv(const VirshOptions& o, const std::string& migrate_uri);

class VirshMigration final : public DomainMigration {
 public:
  explicit VirshMigration(VirshOptions o) : o_(std::move(o)) {}
  // Ends a virsh still running (its job aborted first).
  ~VirshMigration() override;
  VirshMigration(const VirshMigration&) = delete;
  VirshMigration& operator=(const VirshMigration&) = delete;

  Status Start(const std::string& migrate_uri) override;
  std::optional<Status> Poll() override;
  Status Wait(std::chrono::milliseconds timeout) override;
  Status Abort() override;

 private:
  // The outcome of virsh's wait status, with the last lines it printed.
  Status Outcome(int wait_status) const;

  VirshOptions o_;
  pid_t pid_ = -1;
  std::optional<Status> done_;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_LIBVIRT_MIGRATION_H_
