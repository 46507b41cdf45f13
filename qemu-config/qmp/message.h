// QMP messages: what QEMU sends on its monitor socket, parsed and classified (no I/O here).
//
// QEMU writes one JSON object per line ("\r\n"-terminated in 7.2). ParseMessage turns one such
// line into a Message: the greeting ({"QMP": ...}), a command's return ({"return": ...}), a
// command's error ({"error": {"class", "desc"}}) or an asynchronous event ({"event", "data",
// "timestamp"}). The bytes are untrusted: every field's type is checked before use, sizes and
// nesting are capped, and anything else is a kCorrupt Status that says what was wrong and quotes
// the start of the message. Framing a byte stream into lines is MessageReader's job
// (message_reader.h). Pure functions and plain values; thread-compatible. Never throws.
#ifndef MKD_QEMU_CONFIG_QMP_MESSAGE_H_
#define MKD_QEMU_CONFIG_QMP_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"

namespace mkd::qmp {

// The largest message ParseMessage (and by default MessageReader) accepts. QEMU 7.2's largest
// ordinary replies (query-qmp-schema, ~200 KiB) fit many times over.
inline constexpr size_t kMaxMessageBytes = size_t{16} << 20;
// The deepest nesting of arrays and objects accepted, so that no recursive walk of a parsed
// value (copy, dump, comparison) can exhaust the stack. QEMU's replies nest a few levels; long
// backing chains in query-block a few hundred at most.
inline constexpr size_t kMaxNestingDepth = 512;

// {"QMP": {"version": {"qemu": {"major", "minor", "micro"}, "package"}, "capabilities": [...]}}
struct Greeting {
  int64_t major = 0;
  int64_t minor = 0;
  int64_t micro = 0;
  std::string package;                    // e.g. "Debian 1:7.2+dfsg-7+deb12u18+b3"
  std::vector<std::string> capabilities;  // offered, e.g. {"oob"}; the client enables none
  bool operator==(const Greeting&) const = default;
};

// {"return": VALUE, "id": ID}. `id` is absent when the command carried none.
struct ReturnReply {
  std::optional<nlohmann::json> id;
  nlohmann::json value;
  bool operator==(const ReturnReply&) const = default;
};

// {"error": {"class": CLASS, "desc": DESC}, "id": ID}. QEMU omits `id` when it could not read
// the request's (not JSON, not an object).
struct ErrorReply {
  std::optional<nlohmann::json> id;
  std::string error_class;  // "GenericError", "CommandNotFound", "DeviceNotFound", ...
  std::string desc;         // human-readable, untrusted text
  bool operator==(const ErrorReply&) const = default;
};

// {"event": NAME, "data": {...}, "timestamp": {"seconds": S, "microseconds": US}}
struct Event {
  std::string name;                                // "STOP", "RESUME", "MIGRATION", ...
  nlohmann::json data = nlohmann::json::object();  // always an object; {} when QEMU sent none
  int64_t seconds = 0;                             // wall-clock time QEMU stamped the event with
  int64_t microseconds = 0;
  bool operator==(const Event&) const = default;
};

using Message = std::variant<Greeting, ReturnReply, ErrorReply, Event>;

// Parses and classifies one message: `text` is one line without its "\n" (a trailing "\r" and
// surrounding whitespace are allowed). kCorrupt when it is longer than kMaxMessageBytes, nested
// deeper than kMaxNestingDepth, not JSON, not an object, has none or more than one of the keys
// QMP/return/error/event, or a field of the wrong type or missing. Unknown keys are ignored.
Result<Message> ParseMessage(std::string_view text);

// The message as one QMP line (compact JSON and "\r\n", as QEMU writes it); for test servers
// and round-trip checks. ParseMessage(EncodeMessage(m)) == m. Never throws (invalid UTF-8 in a
// caller-built string is replaced by U+FFFD).
std::string EncodeMessage(const Message& message);

// "greeting", "return", "error" or "event".
std::string_view MessageKindName(const Message& message);

// `text` made safe to put in a Status or log: at most `max_bytes` bytes, control characters and
// bytes >= 0x7f escaped as \xNN, "..." appended when cut.
std::string Excerpt(std::string_view text, size_t max_bytes = 80);

}  // namespace mkd::qmp

#endif  // MKD_QEMU_CONFIG_QMP_MESSAGE_H_
