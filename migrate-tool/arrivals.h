// Arrivals: the VMs arriving at this host now, and which peer each may come from. serve's
// control connection registers a VM after its HELLO passed CheckSourceHost; the stream tunnel
// connection of that VM (STREAM_HELLO) gets the destination QEMU's incoming socket only when it
// comes from the same host (certificate CN) and the VM has no stream yet. So one certified host
// cannot feed the device state of a VM that another host is sending here.
// Thread safety: every method may be called from any connection's thread (one mutex).
#ifndef MKD_MIGRATE_TOOL_ARRIVALS_H_
#define MKD_MIGRATE_TOOL_ARRIVALS_H_

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/uuid.h"

namespace mkd::migrate {

// A HELLO or STREAM_HELLO (`what`) names `claimed` as its source host; the peer's verified
// certificate names `peer_cn`. kFailedPrecondition unless they are the same, with a message for
// the operator: a host sends only its own VMs, under the name its certificate gives it.
Status CheckSourceHost(std::string_view what, std::string_view claimed, std::string_view peer_cn);

class Arrivals {
 public:
  // Registers `vm` arriving from `source_host` (the control connection's certificate CN), its
  // QEMU's incoming socket at `qemu_socket`. False when the VM is arriving already.
  bool Add(const Uuid& vm, std::string qemu_socket, std::string source_host);
  void Remove(const Uuid& vm);
  // The incoming socket for the QEMU stream of `vm` sent by `peer_cn`, claimed at most once per
  // arrival. kNotFound when `vm` is not arriving, kFailedPrecondition when it arrives from
  // another host or when its stream is connected already.
  Result<std::string> ClaimStream(const Uuid& vm, std::string_view peer_cn);

 private:
  struct Arrival {
    std::string qemu_socket;
    std::string source_host;
    bool stream_claimed = false;
  };
  std::mutex mu_;  // guards map_
  std::map<Uuid, Arrival> map_;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_ARRIVALS_H_
