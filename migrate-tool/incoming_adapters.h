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

// serve --content-scope (LocalHostOptions::content_scope).
enum class ContentScope { kVm, kHost };

// serve --content-index-pages: 16 Mi pages (64 GiB of guest memory with content; 256 MiB).
inline constexpr uint64_t kDefaultContentIndexPages = uint64_t{16} << 20;

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
  // Reuse by content: pages indexed per memfs mount at most (16 bytes each; 0: no reuse by
  // content, every offered page is asked for), and how old an index may get before a lookup
  // rebuilds it.
  uint64_t content_index_pages = kDefaultContentIndexPages;
  std::chrono::seconds content_index_age{30};
  // Whose pages an arriving VM may take by content: its own (its earlier incarnations on this
  // host: kVm) or every VM's on the mount (kHost). Whether a page was taken tells the source
  // host whether this host holds that content (docs/security.md): kHost only where the VMs of a
  // host may learn that of each other.
  ContentScope content_scope = ContentScope::kVm;
  // With kHost: rebuild the index of every memfs mount the definitions name (and of any mount an
  // arrival used) this often in the background, so that arrivals find it built (0: only when an
  // arrival needs it). Below content_index_age, an arrival never waits for a build.
  std::chrono::seconds content_index_refresh{0};
};

// This host: definitions from `vm_dir`, memfs through the definitions' memory directories,
// QEMU started by qemu-config in incoming mode (stopped within 5 s).
std::unique_ptr<IncomingHost> NewLocalHost(LocalHostOptions options);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_INCOMING_ADAPTERS_H_
