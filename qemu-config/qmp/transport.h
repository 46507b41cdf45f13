// Transport: the byte stream under a QmpClient, so tests can replace the socket.
//
// UnixSocketTransport (unix_socket.h) is the real one. A fake returns scripted bytes and
// failures. Every call takes a deadline and must return by it (give or take one scheduling
// quantum); a transport never throws. Used by one thread at a time.
#ifndef MKD_QEMU_CONFIG_QMP_TRANSPORT_H_
#define MKD_QEMU_CONFIG_QMP_TRANSPORT_H_

#include <chrono>
#include <cstddef>
#include <span>
#include <string_view>

#include "base/status.h"

namespace mkd::qmp {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

class Transport {
 public:
  virtual ~Transport() = default;

  // Sends all of `bytes`. kIo when the peer closed, the OS failed, or `deadline` passed first;
  // the stream is then in an unknown state and must not be used again.
  virtual Status Send(std::string_view bytes, Deadline deadline) = 0;

  // Waits until bytes arrive or `deadline` passes, then reads up to `buffer.size()` of them.
  // Returns how many; 0 means the deadline passed with nothing to read (a deadline already past
  // still takes what is there without waiting). kIo when the peer closed or the OS failed.
  virtual Result<size_t> Receive(std::span<char> buffer, Deadline deadline) = 0;
};

}  // namespace mkd::qmp

#endif  // MKD_QEMU_CONFIG_QMP_TRANSPORT_H_
