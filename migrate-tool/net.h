// TCP plumbing for the peer connections: dialling a host with a timeout, and a listening socket.
// Returns connected file descriptors that the TLS layer (peer/tls.h) takes over.
#ifndef MKD_MIGRATE_TOOL_NET_H_
#define MKD_MIGRATE_TOOL_NET_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "migrate-tool/channel.h"
#include "migrate-tool/peer/tls.h"

namespace mkd::migrate {

inline constexpr uint16_t kDefaultPort = 7420;

// "host", "host:port", "1.2.3.4:port", "[::1]:port" -> host and port (default kDefaultPort).
Status SplitHostPort(const std::string& text, std::string* host, uint16_t* port);

// Connects to `address` (name or IP; port default kDefaultPort) within `timeout`.
Result<int> DialTcp(const std::string& address, std::chrono::milliseconds timeout);

// Dials, then runs the TLS client handshake expecting the peer to be `host_id`.
Result<std::unique_ptr<Channel>> DialPeer(const peer::TlsContext& tls, const std::string& address,
                                          const std::string& host_id,
                                          std::chrono::milliseconds timeout);

// A listening TCP socket on `address` ("0.0.0.0:7420", "10.0.0.1:7420").
Result<int> ListenTcp(const std::string& address);

// Gives a connected socket a receive buffer of `bytes` (the kernel's own figure, bookkeeping
// included: SO_RCVBUFFORCE of bytes / 2, which the kernel doubles), beyond net.core.rmem_max;
// the kernel's autotuning no longer applies to it. Needs CAP_NET_ADMIN: an error otherwise, and
// the socket is left as it was.
Status SetReceiveBuffer(int fd, uint64_t bytes);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_NET_H_
