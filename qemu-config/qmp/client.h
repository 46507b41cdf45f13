// QmpClient: one QMP session with a QEMU process, for the VM launcher and the migration tool.
//
//   Result<QmpClient> c = QmpClient::Connect("/run/vm1/qmp.sock", std::chrono::seconds(10));
//   Result<nlohmann::json> r = c->Execute("migrate", {{"uri", "tcp:10.0.0.2:4444"}});
//   Result<Event> e = c->WaitForEvent("MIGRATION", std::chrono::seconds(60),
//       [](const nlohmann::json& d) { return d.value("status", "") == "completed"; });
//
// Connect() waits for the socket QEMU creates as it starts, reads the greeting and negotiates
// capabilities (none are enabled: no out-of-band). Commands are synchronous: one request in
// flight, matched to its reply by "id". Events that arrive meanwhile (QEMU sends MIGRATION
// "setup" before the reply to `migrate`) are queued in arrival order and handed out by
// WaitForEvent() and TakeEvents(); none is dropped. The queue is capped (kMaxQueuedEvents,
// kMaxQueuedEventBytes): reaching a cap breaks the connection rather than drop one silently.
//
// Errors are values; nothing throws. Every call has a deadline and returns by it.
//  - QEMU refused a command: Call() returns a Reply holding a CommandError (with the QMP error
//    class); Execute() turns it into a Status "QMP command 'migrate' failed: GenericError: ..."
//    whose code follows the class (CommandError::ToStatus). The connection stays usable.
//  - A deadline passed: kIo "... within N ms". The connection stays usable (a late reply is
//    recognised by its id and discarded; the command may still take effect in QEMU).
//  - The peer closed, sent bytes that are not QMP, or a cap was hit: the Status says which, the
//    connection is closed, connected() turns false and every later call fails with
//    kFailedPrecondition quoting the cause. Events queued before remain available.
//
// Owns its Transport (the socket); move-only. Thread-compatible: use it from one thread at a
// time (an event predicate runs on the calling thread, inside WaitForEvent).
#ifndef MKD_QEMU_CONFIG_QMP_CLIENT_H_
#define MKD_QEMU_CONFIG_QMP_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "qemu-config/qmp/message.h"
#include "qemu-config/qmp/message_reader.h"
#include "qemu-config/qmp/queries.h"
#include "qemu-config/qmp/transport.h"

namespace mkd::qmp {

inline constexpr std::chrono::milliseconds kDefaultConnectTimeout{10'000};
inline constexpr std::chrono::milliseconds kDefaultCommandTimeout{10'000};
inline constexpr size_t kMaxQueuedEvents = 100'000;
inline constexpr size_t kMaxQueuedEventBytes = size_t{64} << 20;

// QEMU's refusal of a command: {"error": {"class": ..., "desc": ...}}.
struct CommandError {
  std::string command;      // "migrate"
  std::string error_class;  // "GenericError", "CommandNotFound", "DeviceNotFound", ...
  std::string desc;         // QEMU's text, verbatim (untrusted; ToStatus escapes it)

  // "QMP command 'migrate' failed: GenericError: <desc>", control characters in desc escaped.
  // Code: CommandNotFound and KVMMissingCap -> kUnsupported, DeviceNotFound -> kNotFound,
  // every other class -> kFailedPrecondition.
  Status ToStatus() const;
};

// What a command got back: its "return" value, or QEMU's error.
struct Reply {
  nlohmann::json value;               // the "return" value when ok() ({} for most actions)
  std::optional<CommandError> error;  // set when QEMU refused the command
  bool ok() const { return !error.has_value(); }
};

// Decides whether an event's "data" (always an object) is the one waited for.
using EventPredicate = std::function<bool(const nlohmann::json& data)>;

class QmpClient {
 public:
  // Connects to QEMU's QMP unix socket, retrying until it appears (UnixSocketTransport), then
  // reads the greeting and negotiates capabilities, all within `timeout`. kIo when nothing
  // accepted or no greeting came in time (QEMU serves one QMP client at a time: another
  // connected client makes the greeting wait), kCorrupt for a greeting that is not QMP.
  static Result<QmpClient> Connect(std::string_view socket_path,
                                   std::chrono::milliseconds timeout = kDefaultConnectTimeout);

  // The same handshake over any connected transport (tests pass fakes).
  static Result<QmpClient> Open(std::unique_ptr<Transport> transport,
                                std::chrono::milliseconds timeout = kDefaultConnectTimeout);

  QmpClient(QmpClient&&) noexcept;
  QmpClient& operator=(QmpClient&&) noexcept;
  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;
  ~QmpClient();

  // What QEMU announced: its version and offered capabilities.
  const Greeting& greeting() const { return greeting_; }

  // False once the connection broke or was closed (or this client was moved from).
  bool connected() const { return transport_ != nullptr; }

  // Closes the socket; later commands fail with kFailedPrecondition. Queued events remain.
  void Close();

  // Runs `command` with `arguments` (a JSON object, or null for none) and waits for its reply
  // until `timeout`. A QEMU refusal is a Reply with `error` set, not a Status; see the header
  // comment for the Status cases. kInvalidArgument for an empty command, arguments that are
  // not an object, or strings that are not UTF-8.
  Result<Reply> Call(std::string_view command, const nlohmann::json& arguments = nullptr,
                     std::chrono::milliseconds timeout = kDefaultCommandTimeout);

  // Call(), with a refusal turned into CommandError::ToStatus(). Returns the "return" value.
  Result<nlohmann::json> Execute(std::string_view command,
                                 const nlohmann::json& arguments = nullptr,
                                 std::chrono::milliseconds timeout = kDefaultCommandTimeout);

  // The first event called `name` (and accepted by `predicate`, when given): from the queue if
  // one is there (it is removed, the others stay in order), else read from QEMU until `timeout`,
  // queueing the other events. A zero timeout takes only what has already arrived. kIo when
  // none came in time (the connection stays usable).
  Result<Event> WaitForEvent(std::string_view name, std::chrono::milliseconds timeout,
                             const EventPredicate& predicate = nullptr);

  // Every queued event, oldest first, emptying the queue. No I/O: events are read while a
  // command or WaitForEvent() waits.
  std::vector<Event> TakeEvents();
  size_t queued_events() const { return events_.size(); }

  // query-status, query-migrate and query-cpus-fast, decoded by queries.h.
  Result<VmStatus> QueryStatus(std::chrono::milliseconds timeout = kDefaultCommandTimeout);
  Result<MigrationInfo> QueryMigrate(std::chrono::milliseconds timeout = kDefaultCommandTimeout);
  // The guest's vCPUs and the host threads that run them (e.g. to throttle those threads).
  Result<std::vector<VcpuInfo>> QueryCpusFast(
      std::chrono::milliseconds timeout = kDefaultCommandTimeout);

 private:
  struct QueuedEvent {
    Event event;
    size_t bytes;  // size of its line, for kMaxQueuedEventBytes
  };

  explicit QmpClient(std::unique_ptr<Transport> transport);

  Status CheckUsable() const;
  // Records `cause` as why the connection ended, closes it and returns `cause`.
  Status Break(Status cause);
  // The next message, or nullopt when `deadline` passed first. Any error breaks the connection.
  Result<std::optional<Message>> ReadMessage(Deadline deadline);
  Status Enqueue(Event event);
  Result<Reply> CallUntil(std::string_view command, const nlohmann::json& arguments,
                          Deadline deadline, std::chrono::milliseconds timeout);

  std::unique_ptr<Transport> transport_;  // null once closed
  MessageReader reader_;
  Greeting greeting_;
  std::deque<QueuedEvent> events_;
  size_t queued_event_bytes_ = 0;
  uint64_t next_id_ = 1;
  Status broken_;  // why the connection ended, when it broke
  std::string receive_buffer_;
};

}  // namespace mkd::qmp

#endif  // MKD_QEMU_CONFIG_QMP_CLIENT_H_
