// The real destination ports (incoming_ports.h): the source through a TLS Channel, memfs through
// the mount (RamFile and the VM directory's xattrs), QEMU through qemu-config and QMP. serve.cc
// builds them; unit tests use incoming_fakes.h instead.
// Each adapter is as thread-safe as what it wraps (one thread at a time).
#ifndef MKD_MIGRATE_TOOL_INCOMING_ADAPTERS_H_
#define MKD_MIGRATE_TOOL_INCOMING_ADAPTERS_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "migrate-tool/channel.h"
#include "migrate-tool/incoming_ports.h"

namespace mkd::migrate {

// IncomingLink over a Channel it does not own.
class ChannelLink final : public IncomingLink {
 public:
  explicit ChannelLink(Channel& channel) : ch_(channel) {}
  Status Send(FrameType type, std::string_view payload) override { return ch_.Send(type, payload); }
  Result<Frame> Receive() override { return ch_.Receive(); }
  bool Readable(std::chrono::milliseconds wait, int wake_fd) override {
    return ch_.Readable(wait, wake_fd);
  }
  const std::string& peer_host() const override { return ch_.peer_host(); }

 private:
  Channel& ch_;
};

// Where this host keeps its VM definitions and how it starts QEMU (serve's options).
struct LocalHostOptions {
  std::string vm_dir;  // <uuid>.json: the VMs this host may receive
  std::string accel;
  std::string accel_cache;
  std::string qemu_binary;
};

// This host: definitions from `vm_dir`, memfs through the definitions' memory directories,
// QEMU started by qemu-config in incoming mode (stopped within 5 s).
std::unique_ptr<IncomingHost> NewLocalHost(LocalHostOptions options);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_INCOMING_ADAPTERS_H_
