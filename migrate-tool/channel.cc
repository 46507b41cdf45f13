// Frames over TLS with byte counts and a bandwidth cap (see channel.h).
#include "migrate-tool/channel.h"

#include <algorithm>
#include <thread>

namespace mkd::migrate {

void Channel::Throttle(uint64_t bytes) {
  if (bandwidth_ == 0) return;
  const auto now = std::chrono::steady_clock::now();
  // A window of one second at most: a pause of the sender is not credit for a later burst.
  if (window_bytes_ == 0 || now - window_start_ > std::chrono::seconds(1)) {
    window_start_ = now;
    window_bytes_ = 0;
  }
  window_bytes_ += bytes;
  const auto due =
      window_start_ + std::chrono::microseconds(window_bytes_ * 1'000'000 / bandwidth_);
  if (due > now) std::this_thread::sleep_until(due);
}

Status Channel::Queue(FrameType type, std::string_view head, std::string_view body) {
  const uint64_t length = head.size() + body.size();
  if (length > kMaxFramePayload) {
    return Status::InvalidArgument("frame " + std::string(FrameTypeName(type)) + " is too large");
  }
  if (out_.size() + kFrameHeaderSize + length > kSendBuffer) MKD_RETURN_IF_ERROR(Flush());
  if (kFrameHeaderSize + length > kSendBuffer) {
    // Larger than the buffer (a full PAGES frame): straight to the stream, without a copy.
    Throttle(kFrameHeaderSize + length);
    const std::string header = EncodeFrameHeader(type, static_cast<uint32_t>(length));
    std::string first = header;
    first.append(head);
    MKD_RETURN_IF_ERROR(stream_.WriteAll(first.data(), first.size()));
    if (!body.empty()) MKD_RETURN_IF_ERROR(stream_.WriteAll(body.data(), body.size()));
  } else {
    out_.append(EncodeFrameHeader(type, static_cast<uint32_t>(length)));
    out_.append(head);
    out_.append(body);
  }
  sent_ += kFrameHeaderSize + length;
  return Status::Ok();
}

Status Channel::Flush() {
  if (out_.empty()) return Status::Ok();
  Throttle(out_.size());
  Status s = stream_.WriteAll(out_.data(), out_.size());
  out_.clear();
  return s;
}

Status Channel::Send(FrameType type, std::string_view head, std::string_view body) {
  MKD_RETURN_IF_ERROR(Queue(type, head, body));
  return Flush();
}

Result<Frame> Channel::Receive() {
  char header[kFrameHeaderSize];
  MKD_RETURN_IF_ERROR(stream_.ReadExact(header, sizeof(header)));
  Result<FrameHeader> h = ParseFrameHeader(std::string_view(header, sizeof(header)));
  if (!h.ok()) return h.status().WithContext("from " + peer_host());
  MKD_RETURN_IF_ERROR(CheckFrameLength(*h, max_payload_, peer_host()));
  Frame f;
  f.type = h->type;
  // The buffer grows a step at a time as bytes arrive: a header's claim alone allocates at most
  // one step (and never more than max_payload_, checked above). The step holds a full PAGES
  // frame, so the page transfer allocates each frame once, without copies; only the larger
  // TABLE and DIGESTS frames a source reads grow in steps.
  constexpr size_t kStep = 2 * 1024 * 1024;
  while (f.payload.size() < h->length) {
    const size_t have = f.payload.size();
    const size_t next = std::min<size_t>(h->length, have + kStep);
    f.payload.resize(next);
    MKD_RETURN_IF_ERROR(stream_.ReadExact(f.payload.data() + have, next - have));
  }
  received_ += kFrameHeaderSize + h->length;
  return f;
}

Result<Frame> RequireFrameType(Result<Frame> received, FrameType type, const std::string& peer) {
  if (!received.ok()) return received.status();
  if (received->type == type) return received;
  if (received->type == FrameType::kResult) {
    Result<ResultMsg> r = ParseResult(received->payload);
    if (r.ok() && !r->ok) return Status::FailedPrecondition(peer + ": " + r->message);
  }
  return Status::InvalidArgument("migration protocol: " + peer + " sent " +
                                 std::string(FrameTypeName(received->type)) + " where " +
                                 std::string(FrameTypeName(type)) + " was due");
}

Result<Frame> Channel::Expect(FrameType type) {
  return RequireFrameType(Receive(), type, peer_host());
}

}  // namespace mkd::migrate
