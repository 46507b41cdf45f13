// The VMs arriving here and the hosts they may come from (see arrivals.h).
#include "migrate-tool/arrivals.h"

#include <utility>

namespace mkd::migrate {

Status CheckSourceHost(std::string_view what, std::string_view claimed, std::string_view peer_cn) {
  if (claimed == peer_cn) return Status::Ok();
  const std::string cn(peer_cn), name(claimed);
  return Status::FailedPrecondition(
      std::string(what) + " from " + cn + " names '" + name + "' as its source host, but " + cn +
      "'s certificate is for " + cn +
      ": refused (a host sends only its own VMs, under the host id of its certificate). If " + cn +
      " is meant to be '" + name +
      "', give it the certificate of that id (scripts/mkd-ca host DIR " + name +
      ") and the same --host-id; otherwise " + cn + " is sending on another host's behalf");
}

bool Arrivals::Add(const Uuid& vm, std::string qemu_socket, std::string source_host) {
  std::lock_guard lock(mu_);
  return map_.emplace(vm, Arrival{std::move(qemu_socket), std::move(source_host), false}).second;
}

void Arrivals::Remove(const Uuid& vm) {
  std::lock_guard lock(mu_);
  map_.erase(vm);
}

Result<std::string> Arrivals::ClaimStream(const Uuid& vm, std::string_view peer_cn) {
  std::lock_guard lock(mu_);
  auto it = map_.find(vm);
  if (it == map_.end()) {
    return Status::NotFound("QEMU stream from " + std::string(peer_cn) + " for VM " +
                            vm.ToString() + ", which is not arriving here: refused");
  }
  Arrival& a = it->second;
  if (a.source_host != peer_cn) {
    return Status::FailedPrecondition(
        "QEMU stream from " + std::string(peer_cn) + " for VM " + vm.ToString() +
        ", which is arriving from " + a.source_host +
        ": refused (the device state must come from the host that sends the VM's pages)");
  }
  if (a.stream_claimed) {
    return Status::FailedPrecondition("a second QEMU stream from " + std::string(peer_cn) +
                                      " for VM " + vm.ToString() +
                                      ": refused (its stream is connected already)");
  }
  a.stream_claimed = true;
  return a.qemu_socket;
}

}  // namespace mkd::migrate
