#include "qemu-config/qmp/message_reader.h"

#include <string>
#include <utility>

namespace mkd::qmp {

MessageReader::MessageReader(ReaderLimits limits) : limits_(limits) {}

Status MessageReader::Fail(Status status) {
  failure_ = std::move(status);
  buffer_.clear();
  buffer_.shrink_to_fit();
  start_ = scanned_ = 0;
  return failure_;
}

Status MessageReader::Feed(std::string_view bytes) {
  if (failed()) return failure_;
  if (bytes.size() > limits_.max_buffered_bytes - buffered_bytes()) {
    return Fail(Status::Corrupt("QMP peer sent more than " +
                                std::to_string(limits_.max_buffered_bytes) +
                                " bytes that were not read as messages"));
  }
  // Drop consumed bytes once they are the larger part, so appends stay amortised O(n).
  if (start_ > 0 && start_ >= buffer_.size() - start_) {
    buffer_.erase(0, start_);
    scanned_ -= start_;
    start_ = 0;
  }
  buffer_.append(bytes);
  return Status::Ok();
}

std::optional<Result<Message>> MessageReader::Next() {
  while (!failed()) {
    const size_t newline = buffer_.find('\n', scanned_);
    if (newline == std::string::npos) {
      scanned_ = buffer_.size();
      if (buffered_bytes() > limits_.max_message_bytes) break;  // a line already too long
      return std::nullopt;
    }
    const std::string_view line(buffer_.data() + start_, newline - start_);
    if (line.size() > limits_.max_message_bytes) break;
    start_ = scanned_ = newline + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    last_message_bytes_ = line.size();
    return ParseMessage(line);
  }
  if (failed()) return std::nullopt;
  return Result<Message>(Fail(Status::Corrupt(
      "QMP message longer than " + std::to_string(limits_.max_message_bytes) + " bytes")));
}

}  // namespace mkd::qmp
