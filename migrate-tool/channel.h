// Channel: frames of the migration protocol (wire.h) over one authenticated TLS stream, with
// the byte counts the report shows and an optional bandwidth cap for what is sent.
// Memory: a received frame's buffer grows as its bytes arrive (never from the header's claim
// alone), and a frame over the channel's limit (SetMaxPayload) is refused before any of it is
// read, so a peer cannot make this host allocate more than the limit per connection.
// Ownership: owns the TlsStream. One thread sends and one thread receives at a time (the
// counters are atomic so a progress reporter may read them).
#ifndef MKD_MIGRATE_TOOL_CHANNEL_H_
#define MKD_MIGRATE_TOOL_CHANNEL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "migrate-tool/peer/tls.h"
#include "migrate-tool/wire.h"

namespace mkd::migrate {

struct Frame {
  FrameType type = FrameType::kHello;
  std::string payload;
};

// `received` if it is a frame of `type`; a RESULT with ok=false in its place becomes
// kFailedPrecondition carrying the peer's message, another frame kInvalidArgument. Channel::Expect
// and the source's PeerLink (source_ports.h) share it.
Result<Frame> RequireFrameType(Result<Frame> received, FrameType type, const std::string& peer);

class Channel {
 public:
  explicit Channel(peer::TlsStream stream) : stream_(std::move(stream)) {}

  // Sends one frame: header, then `head` and `body` (a payload in two parts saves a copy of
  // page content), after whatever Queue buffered. Waits as needed to keep within the bandwidth
  // cap.
  Status Send(FrameType type, std::string_view head, std::string_view body = {});
  // Buffers one frame; the buffer goes out when it holds kSendBuffer bytes, on Flush or before
  // the next Send. Many small frames (scattered single pages) then cost one TLS record and one
  // system call per 16 KiB instead of two each. The caller flushes before it waits for the
  // peer.
  Status Queue(FrameType type, std::string_view head, std::string_view body = {});
  Status Flush();
  static constexpr size_t kSendBuffer = 256 * 1024;
  // Receives the next frame; fails on a bad header, a frame over the limit (kInvalidArgument,
  // before reading its payload), a closed or silent peer.
  Result<Frame> Receive();
  // Receives the next frame and requires its type; a RESULT with ok=false in its place becomes
  // an error carrying the peer's message.
  Result<Frame> Expect(FrameType type);

  // See TlsStream::Readable and Unacked (the post-copy loops poll with them).
  bool Readable(std::chrono::milliseconds wait, int wake_fd = -1) const {
    return stream_.Readable(wait, wake_fd);
  }
  uint64_t Unacked() const { return stream_.Unacked(); }
  std::optional<peer::TcpSendTimes> SendTimes() const { return stream_.SendTimes(); }
  // Bytes per second; 0 = no cap.
  void SetBandwidth(uint64_t bytes_per_second) { bandwidth_ = bytes_per_second; }
  void SetTimeout(std::chrono::milliseconds timeout) { stream_.SetTimeout(timeout); }
  // No read or write waits past `deadline` (TlsStream::SetDeadline): serve's handshake bound.
  void SetDeadline(std::chrono::steady_clock::time_point deadline) {
    stream_.SetDeadline(deadline);
  }
  // Largest payload Receive accepts; starts at the protocol's cap, kMaxFramePayload.
  void SetMaxPayload(uint32_t bytes) { max_payload_ = bytes; }
  const std::string& peer_host() const { return stream_.peer_host(); }
  uint64_t bytes_sent() const { return sent_.load(); }
  uint64_t bytes_received() const { return received_.load(); }

 private:
  void Throttle(uint64_t bytes);

  peer::TlsStream stream_;
  std::string out_;  // frames queued, not yet written
  uint64_t bandwidth_ = 0;
  uint32_t max_payload_ = kMaxFramePayload;
  std::chrono::steady_clock::time_point window_start_{};
  uint64_t window_bytes_ = 0;
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> received_{0};
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_CHANNEL_H_
