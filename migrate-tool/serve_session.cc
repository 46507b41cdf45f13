// One connection to serve after its handshake (see serve_session.h).
#include "migrate-tool/serve_session.h"

#include <spdlog/spdlog.h>

#include "migrate-tool/incoming.h"
#include "migrate-tool/plan_answer.h"

namespace mkd::migrate {

Status PumpIntoQemu(IncomingLink& link, QemuStreamConnector& connector,
                    const std::string& qemu_socket, std::chrono::milliseconds timeout) {
  MKD_ASSIGN_OR_RETURN(std::unique_ptr<QemuStreamSocket> qemu, connector.Connect(qemu_socket));
  bool back_open = true;  // QEMU's return path: what it writes goes back to the source
  auto idle_since = std::chrono::steady_clock::now();
  while (true) {
    const bool frame =
        link.Readable(std::chrono::milliseconds(100), back_open ? qemu->wait_fd() : -1);
    if (back_open) {
      MKD_ASSIGN_OR_RETURN(std::optional<std::string> back, qemu->ReadBack());
      if (!back.has_value()) {
        back_open = false;
      } else if (!back->empty()) {
        MKD_RETURN_IF_ERROR(link.Send(FrameType::kStreamBack, *back));
      }
    }
    if (!frame) {
      if (std::chrono::steady_clock::now() - idle_since > timeout) {
        return Status::Io("QEMU's stream from " + link.peer_host() + ": nothing within " +
                          std::to_string(timeout.count()) + " ms (the source is stuck)");
      }
      continue;
    }
    idle_since = std::chrono::steady_clock::now();
    MKD_ASSIGN_OR_RETURN(Frame f, link.Receive());
    if (f.type == FrameType::kStreamEnd) return Status::Ok();
    if (f.type != FrameType::kStreamData) {
      return Status::InvalidArgument("stream tunnel: unexpected " +
                                     std::string(FrameTypeName(f.type)));
    }
    MKD_RETURN_IF_ERROR(qemu->Write(f.payload));
  }
}

void ServeSession(const Result<Frame>& first, IncomingLink& link, const std::string& address,
                  const SessionPorts& ports) {
  if (!first.ok()) {
    spdlog::warn("{} ({}): no first frame within the handshake limit of {} ms, or a bad one: {}",
                 link.peer_host(), address, ports.handshake_timeout.count(),
                 first.status().ToString());
    if (first.status().code() == ErrorCode::kInvalidArgument) {
      (void)link.Send(FrameType::kResult, EncodeResult({false, first.status().ToString()}));
    }
    return;
  }
  if (first->type == FrameType::kHello) {
    Result<Hello> hello = ParseHello(first->payload);
    Status s = hello.ok() ? CheckSourceHost("HELLO", hello->source_host, link.peer_host())
                          : hello.status();
    if (!s.ok()) {
      spdlog::warn("{} ({}): {}", link.peer_host(), address, s.ToString());
      (void)link.Send(FrameType::kResult, EncodeResult({false, s.ToString()}));
      return;
    }
    Incoming(link, ports.host, ports.arrivals, ports.timeout).Run(*hello);
  } else if (first->type == FrameType::kPlan) {
    // mkd-migrate plan: the same checks of the peer as HELLO's, then only reads.
    Result<Hello> hello = ParseHello(first->payload);
    Status s =
        hello.ok() ? CheckSourceHost("PLAN", hello->source_host, link.peer_host()) : hello.status();
    if (!s.ok()) {
      spdlog::warn("{} ({}): {}", link.peer_host(), address, s.ToString());
      (void)link.Send(FrameType::kResult, EncodeResult({false, s.ToString()}));
      return;
    }
    AnswerPlan(*hello, link, ports.host);
  } else if (first->type == FrameType::kStreamHello) {
    Result<StreamHello> hello = ParseStreamHello(first->payload);
    Status s = hello.ok() ? CheckSourceHost("STREAM_HELLO", hello->source_host, link.peer_host())
                          : hello.status();
    Result<std::string> socket = s;
    if (s.ok()) socket = ports.arrivals.ClaimStream(hello->vm, link.peer_host());
    if (!socket.ok()) {
      spdlog::warn("{} ({}): {}", link.peer_host(), address, socket.status().ToString());
      return;
    }
    s = PumpIntoQemu(link, ports.streams, *socket, ports.timeout);
    if (!s.ok()) spdlog::warn("QEMU stream of VM {}: {}", hello->vm.ToString(), s.ToString());
  } else {
    spdlog::warn("{} ({}): first frame {} refused", link.peer_host(), address,
                 FrameTypeName(first->type));
  }
}

}  // namespace mkd::migrate
