#include "qemu-config/qmp/client.h"

#include <algorithm>
#include <string>
#include <utility>
#include <variant>

#include "qemu-config/qmp/unix_socket.h"

namespace mkd::qmp {
namespace {

using nlohmann::json;

constexpr size_t kReceiveChunk = 64 << 10;

std::string Ms(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

// QEMU's text for a Status: control characters escaped (UTF-8 kept), length capped.
std::string Printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr size_t kMax = 2048;
  std::string out;
  for (const char c : text.substr(0, kMax)) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f) {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    } else {
      out += c;
    }
  }
  if (text.size() > kMax) out += "...";
  return out;
}

}  // namespace

Status CommandError::ToStatus() const {
  ErrorCode code = ErrorCode::kFailedPrecondition;
  if (error_class == "CommandNotFound" || error_class == "KVMMissingCap") {
    code = ErrorCode::kUnsupported;
  } else if (error_class == "DeviceNotFound") {
    code = ErrorCode::kNotFound;
  }
  return Status(code, "QMP command '" + Printable(command) + "' failed: " + Printable(error_class) +
                          ": " + Printable(desc));
}

QmpClient::QmpClient(std::unique_ptr<Transport> transport)
    : transport_(std::move(transport)), receive_buffer_(kReceiveChunk, '\0') {}
QmpClient::QmpClient(QmpClient&&) noexcept = default;
QmpClient& QmpClient::operator=(QmpClient&&) noexcept = default;
QmpClient::~QmpClient() = default;

Result<QmpClient> QmpClient::Connect(std::string_view socket_path,
                                     std::chrono::milliseconds timeout) {
  const Deadline deadline = Clock::now() + timeout;
  MKD_ASSIGN_OR_RETURN(std::unique_ptr<UnixSocketTransport> socket,
                       UnixSocketTransport::Connect(socket_path, deadline));
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  Result<QmpClient> client =
      Open(std::move(socket), std::max(left, std::chrono::milliseconds::zero()));
  if (!client.ok() && client.status().message().find(socket_path) == std::string::npos) {
    return client.status().WithContext("QMP socket " + std::string(socket_path));
  }
  return client;
}

Result<QmpClient> QmpClient::Open(std::unique_ptr<Transport> transport,
                                  std::chrono::milliseconds timeout) {
  if (transport == nullptr) return Status::InvalidArgument("QmpClient::Open: no transport");
  const Deadline deadline = Clock::now() + timeout;
  QmpClient client(std::move(transport));
  Result<std::optional<Message>> first = client.ReadMessage(deadline);
  if (!first.ok()) return first.status().WithContext("reading the QMP greeting");
  if (!first->has_value()) {
    return Status::Io("no QMP greeting within " + Ms(timeout) +
                      " (QEMU serves one QMP client at a time: is another one connected?)");
  }
  auto* greeting = std::get_if<Greeting>(&**first);
  if (greeting == nullptr) {
    return Status::Corrupt("expected the QMP greeting, got a QMP " +
                           std::string(MessageKindName(**first)) + " message");
  }
  client.greeting_ = std::move(*greeting);
  MKD_ASSIGN_OR_RETURN(Reply negotiated,
                       client.CallUntil("qmp_capabilities", nullptr, deadline, timeout));
  if (!negotiated.ok()) return negotiated.error->ToStatus();
  return Result<QmpClient>(std::move(client));
}

void QmpClient::Close() { transport_.reset(); }

Status QmpClient::CheckUsable() const {
  if (transport_ != nullptr) return Status::Ok();
  if (broken_.ok()) return Status::FailedPrecondition("the QMP connection is closed");
  return Status::FailedPrecondition("the QMP connection broke earlier: " + broken_.ToString());
}

Status QmpClient::Break(Status cause) {
  broken_ = cause;
  transport_.reset();
  return cause;
}

Result<std::optional<Message>> QmpClient::ReadMessage(Deadline deadline) {
  bool received = false;
  for (;;) {
    if (std::optional<Result<Message>> next = reader_.Next()) {
      if (!next->ok()) return Break(next->status());
      return std::optional<Message>(std::move(**next));
    }
    // Bytes trickling in past the deadline must not keep us here: after one receive, stop.
    if (received && Clock::now() >= deadline) return std::optional<Message>();
    received = true;
    Result<size_t> n = transport_->Receive(receive_buffer_, deadline);
    if (!n.ok()) return Break(n.status());
    if (*n == 0) return std::optional<Message>();
    Status fed = reader_.Feed(std::string_view(receive_buffer_.data(), *n));
    if (!fed.ok()) return Break(std::move(fed));
  }
}

Status QmpClient::Enqueue(Event event) {
  const size_t bytes = reader_.last_message_bytes();
  if (events_.size() >= kMaxQueuedEvents || bytes > kMaxQueuedEventBytes - queued_event_bytes_) {
    return Break(Status::OutOfRange(
        "more than " + std::to_string(kMaxQueuedEvents) + " QMP events or " +
        std::to_string(kMaxQueuedEventBytes) +
        " bytes of them queued; closing the connection rather than dropping one (call "
        "TakeEvents() or WaitForEvent() regularly)"));
  }
  queued_event_bytes_ += bytes;
  events_.push_back(QueuedEvent{std::move(event), bytes});
  return Status::Ok();
}

Result<Reply> QmpClient::Call(std::string_view command, const json& arguments,
                              std::chrono::milliseconds timeout) {
  MKD_RETURN_IF_ERROR(CheckUsable());
  return CallUntil(command, arguments, Clock::now() + timeout, timeout);
}

Result<Reply> QmpClient::CallUntil(std::string_view command, const json& arguments,
                                   Deadline deadline, std::chrono::milliseconds timeout) {
  const std::string name(command);
  if (name.empty()) return Status::InvalidArgument("empty QMP command name");
  if (!arguments.is_null() && !arguments.is_object()) {
    return Status::InvalidArgument("arguments of QMP command '" + Printable(name) +
                                   "' must be a JSON object, not " + arguments.type_name());
  }
  const uint64_t id = next_id_++;
  json request = {{"execute", name}, {"id", id}};
  if (arguments.is_object()) request["arguments"] = arguments;
  std::string line;
  try {
    line = request.dump() + "\n";
  } catch (const json::exception& e) {  // invalid UTF-8 in a string
    return Status::InvalidArgument("QMP command '" + Printable(name) + "': " + e.what());
  }
  const std::string context = "QMP command '" + Printable(name) + "'";
  if (Status sent = transport_->Send(line, deadline); !sent.ok()) {
    return Break(sent).WithContext(context);
  }
  const json expected_id(id);
  for (;;) {
    Result<std::optional<Message>> next = ReadMessage(deadline);
    if (!next.ok()) return next.status().WithContext(context);
    if (!next->has_value()) {
      return Status::Io(context + " got no reply within " + Ms(timeout) +
                        " (it may still take effect; a late reply will be ignored)");
    }
    Message& message = **next;
    if (auto* event = std::get_if<Event>(&message)) {
      MKD_RETURN_IF_ERROR(Enqueue(std::move(*event)));
    } else if (auto* ret = std::get_if<ReturnReply>(&message)) {
      if (!ret->id) {
        return Break(Status::Corrupt(context + ": QEMU replied without the request's id"));
      }
      if (*ret->id == expected_id) return Reply{std::move(ret->value), std::nullopt};
      // Otherwise the late reply to a command that timed out: ignored.
    } else if (auto* error = std::get_if<ErrorReply>(&message)) {
      // QEMU omits the id only when it could not read the request's, so it is ours.
      if (!error->id || *error->id == expected_id) {
        return Reply{json(),
                     CommandError{name, std::move(error->error_class), std::move(error->desc)}};
      }
    } else {
      return Break(Status::Corrupt("QMP greeting in the middle of the session"))
          .WithContext(context);
    }
  }
}

Result<json> QmpClient::Execute(std::string_view command, const json& arguments,
                                std::chrono::milliseconds timeout) {
  MKD_ASSIGN_OR_RETURN(Reply reply, Call(command, arguments, timeout));
  if (!reply.ok()) return reply.error->ToStatus();
  return std::move(reply.value);
}

Result<Event> QmpClient::WaitForEvent(std::string_view name, std::chrono::milliseconds timeout,
                                      const EventPredicate& predicate) {
  const Deadline deadline = Clock::now() + timeout;
  auto matches = [&](const Event& e) {
    return e.name == name && (!predicate || predicate(e.data));
  };
  for (auto it = events_.begin(); it != events_.end(); ++it) {
    if (!matches(it->event)) continue;
    Event found = std::move(it->event);
    queued_event_bytes_ -= it->bytes;
    events_.erase(it);
    return found;
  }
  MKD_RETURN_IF_ERROR(CheckUsable());
  for (;;) {
    MKD_ASSIGN_OR_RETURN(std::optional<Message> next, ReadMessage(deadline));
    if (!next.has_value()) {
      return Status::Io("no QMP event '" + Printable(name) + "'" +
                        (predicate ? " with the awaited data" : "") + " within " + Ms(timeout));
    }
    Message& message = *next;
    if (auto* event = std::get_if<Event>(&message)) {
      if (matches(*event)) return std::move(*event);
      MKD_RETURN_IF_ERROR(Enqueue(std::move(*event)));
    } else if (std::holds_alternative<Greeting>(message)) {
      return Break(Status::Corrupt("QMP greeting in the middle of the session"));
    }
    // A reply here is the late one of a command that timed out: ignored.
  }
}

std::vector<Event> QmpClient::TakeEvents() {
  std::vector<Event> out;
  out.reserve(events_.size());
  for (QueuedEvent& q : events_) out.push_back(std::move(q.event));
  events_.clear();
  queued_event_bytes_ = 0;
  return out;
}

Result<VmStatus> QmpClient::QueryStatus(std::chrono::milliseconds timeout) {
  MKD_ASSIGN_OR_RETURN(json value, Execute("query-status", nullptr, timeout));
  return DecodeVmStatus(value);
}

Result<MigrationInfo> QmpClient::QueryMigrate(std::chrono::milliseconds timeout) {
  MKD_ASSIGN_OR_RETURN(json value, Execute("query-migrate", nullptr, timeout));
  return DecodeMigrationInfo(value);
}

Result<std::vector<VcpuInfo>> QmpClient::QueryCpusFast(std::chrono::milliseconds timeout) {
  MKD_ASSIGN_OR_RETURN(json value, Execute("query-cpus-fast", nullptr, timeout));
  return DecodeVcpus(value);
}

}  // namespace mkd::qmp
