// MessageReader: turns the bytes read from a QMP socket into Messages, whatever the read sizes.
//
// Feed() appends bytes as they arrive; Next() returns the next complete line parsed by
// ParseMessage (message.h). Lines end in "\n" ("\r\n" from QEMU); whitespace-only lines are
// skipped. Memory is bounded: one message may not exceed `max_message_bytes` (checked as soon
// as that many bytes without a newline are buffered, so a peer cannot make it grow), and the
// bytes buffered in all may not exceed `max_buffered_bytes`.
//
// Errors: a line that is not a valid message is returned by Next() as a kCorrupt Status and the
// reader goes on with the next line (framing is intact). A line over the size cap (from Next)
// or a Feed beyond the buffer cap is fatal: the reader is then failed, Next() returns nothing
// and Feed() returns that error. The result never depends on how the bytes were split into
// Feed() calls, as long as the buffer cap is not hit (tests/fuzz/fuzz_qmp_parser.cc checks it).
//
// Not I/O: QmpClient (client.h) owns the socket. Owns its buffer; movable; thread-compatible.
#ifndef MKD_QEMU_CONFIG_QMP_MESSAGE_READER_H_
#define MKD_QEMU_CONFIG_QMP_MESSAGE_READER_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "qemu-config/qmp/message.h"

namespace mkd::qmp {

struct ReaderLimits {
  size_t max_message_bytes = kMaxMessageBytes;  // one line, without its "\n"
  size_t max_buffered_bytes = 2 * kMaxMessageBytes;
};

class MessageReader {
 public:
  explicit MessageReader(ReaderLimits limits = {});

  // Buffers `bytes`. kCorrupt (and the reader fails) when that would buffer more than
  // max_buffered_bytes; the bytes are then dropped.
  Status Feed(std::string_view bytes);

  // The next message, an error for a malformed one, or nullopt when no complete line is
  // buffered (or the reader has failed).
  std::optional<Result<Message>> Next();

  // Bytes of the line behind the last result of Next() (for callers that bound queues by size).
  size_t last_message_bytes() const { return last_message_bytes_; }
  // Bytes buffered and not yet returned by Next().
  size_t buffered_bytes() const { return buffer_.size() - start_; }
  // Whether a cap was exceeded (see above); the cause is what Feed() returns.
  bool failed() const { return !failure_.ok(); }

 private:
  Status Fail(Status status);

  ReaderLimits limits_;
  std::string buffer_;  // bytes [start_, size) are pending
  size_t start_ = 0;
  size_t scanned_ = 0;  // no "\n" in [start_, scanned_): where the next search begins
  size_t last_message_bytes_ = 0;
  Status failure_;
};

}  // namespace mkd::qmp

#endif  // MKD_QEMU_CONFIG_QMP_MESSAGE_READER_H_
