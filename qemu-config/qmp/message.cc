// ParseMessage: JSON (nlohmann, without exceptions) then classification, checking every type.
#include "qemu-config/qmp/message.h"

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

namespace mkd::qmp {
namespace {

using nlohmann::json;

Status Malformed(std::string_view what, std::string_view text) {
  return Status::Corrupt("malformed QMP message (" + std::string(what) + "): " + Excerpt(text));
}

// The deepest nesting of [ and { outside strings, stopping early past `limit`. A cheap pre-scan:
// the JSON parser decides validity; this only bounds what a valid document may cost later.
size_t NestingDepth(std::string_view text, size_t limit) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) break;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// An integer of JSON that fits in int64_t.
std::optional<int64_t> AsInt64(const json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

// `object[key]` if present, else nullptr. `object` must be an object.
json* Member(json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::optional<json> TakeId(json& message) {
  json* id = Member(message, "id");
  if (id == nullptr) return std::nullopt;
  return std::move(*id);
}

Result<Message> ParseGreeting(json& message, std::string_view text) {
  json& qmp = message["QMP"];
  if (!qmp.is_object()) return Malformed("greeting: \"QMP\" is not an object", text);
  json* version = Member(qmp, "version");
  if (version == nullptr || !version->is_object()) {
    return Malformed("greeting: \"version\" is missing or not an object", text);
  }
  json* qemu = Member(*version, "qemu");
  if (qemu == nullptr || !qemu->is_object()) {
    return Malformed("greeting: \"version.qemu\" is missing or not an object", text);
  }
  Greeting g;
  const std::array<std::pair<const char*, int64_t*>, 3> parts = {
      {{"major", &g.major}, {"minor", &g.minor}, {"micro", &g.micro}}};
  for (const auto& [key, out] : parts) {
    json* v = Member(*qemu, key);
    const std::optional<int64_t> n = v == nullptr ? std::nullopt : AsInt64(*v);
    if (!n || *n < 0) {
      return Malformed(std::string("greeting: \"version.qemu.") + key +
                           "\" is missing or not a non-negative integer",
                       text);
    }
    *out = *n;
  }
  json* package = Member(*version, "package");
  if (package == nullptr || !package->is_string()) {
    return Malformed("greeting: \"version.package\" is missing or not a string", text);
  }
  g.package = std::move(package->get_ref<std::string&>());
  json* caps = Member(qmp, "capabilities");
  if (caps == nullptr || !caps->is_array()) {
    return Malformed("greeting: \"capabilities\" is missing or not an array", text);
  }
  for (json& c : *caps) {
    if (!c.is_string()) return Malformed("greeting: a capability is not a string", text);
    g.capabilities.push_back(std::move(c.get_ref<std::string&>()));
  }
  return Message(std::move(g));
}

Result<Message> ParseError(json& message, std::string_view text) {
  json& error = message["error"];
  if (!error.is_object()) return Malformed("\"error\" is not an object", text);
  json* cls = Member(error, "class");
  if (cls == nullptr || !cls->is_string()) {
    return Malformed("error: \"class\" is missing or not a string", text);
  }
  json* desc = Member(error, "desc");
  if (desc == nullptr || !desc->is_string()) {
    return Malformed("error: \"desc\" is missing or not a string", text);
  }
  ErrorReply e;
  e.error_class = std::move(cls->get_ref<std::string&>());
  e.desc = std::move(desc->get_ref<std::string&>());
  if (e.error_class.empty()) return Malformed("error: \"class\" is empty", text);
  e.id = TakeId(message);
  return Message(std::move(e));
}

Result<Message> ParseEvent(json& message, std::string_view text) {
  json& name = message["event"];
  if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
    return Malformed("\"event\" is not a non-empty string", text);
  }
  Event e;
  e.name = std::move(name.get_ref<std::string&>());
  if (json* data = Member(message, "data"); data != nullptr) {
    if (!data->is_object()) return Malformed("event: \"data\" is not an object", text);
    e.data = std::move(*data);
  }
  json* ts = Member(message, "timestamp");
  if (ts == nullptr || !ts->is_object()) {
    return Malformed("event: \"timestamp\" is missing or not an object", text);
  }
  json* seconds = Member(*ts, "seconds");
  json* micros = Member(*ts, "microseconds");
  const std::optional<int64_t> s = seconds == nullptr ? std::nullopt : AsInt64(*seconds);
  const std::optional<int64_t> us = micros == nullptr ? std::nullopt : AsInt64(*micros);
  if (!s || !us) {
    return Malformed(
        "event: \"timestamp.seconds\" or \"timestamp.microseconds\" is missing or "
        "not an integer",
        text);
  }
  e.seconds = *s;
  e.microseconds = *us;
  return Message(std::move(e));
}

}  // namespace

Result<Message> ParseMessage(std::string_view text) {
  if (text.size() > kMaxMessageBytes) {
    return Status::Corrupt("QMP message longer than " + std::to_string(kMaxMessageBytes) +
                           " bytes");
  }
  if (NestingDepth(text, kMaxNestingDepth) > kMaxNestingDepth) {
    return Malformed("nested deeper than " + std::to_string(kMaxNestingDepth) + " levels", text);
  }
  json message = json::parse(text.begin(), text.end(), /*cb=*/nullptr,
                             /*allow_exceptions=*/false, /*ignore_comments=*/false);
  if (message.is_discarded()) return Malformed("not valid JSON", text);
  if (!message.is_object()) return Malformed("not a JSON object", text);

  static constexpr std::array<const char*, 4> kKinds = {"QMP", "return", "error", "event"};
  const char* kind = nullptr;
  for (const char* k : kKinds) {
    if (!message.contains(k)) continue;
    if (kind != nullptr) {
      return Malformed(std::string("has both \"") + kind + "\" and \"" + k + "\"", text);
    }
    kind = k;
  }
  if (kind == nullptr) return Malformed("none of \"QMP\", \"return\", \"error\", \"event\"", text);
  const std::string_view k(kind);
  if (k == "QMP") return ParseGreeting(message, text);
  if (k == "error") return ParseError(message, text);
  if (k == "event") return ParseEvent(message, text);
  ReturnReply r;
  r.value = std::move(message["return"]);
  r.id = TakeId(message);
  return Message(std::move(r));
}

std::string EncodeMessage(const Message& message) {
  json out;
  if (const auto* g = std::get_if<Greeting>(&message)) {
    out["QMP"] = {{"version",
                   {{"qemu", {{"major", g->major}, {"minor", g->minor}, {"micro", g->micro}}},
                    {"package", g->package}}},
                  {"capabilities", g->capabilities}};
  } else if (const auto* r = std::get_if<ReturnReply>(&message)) {
    out["return"] = r->value;
    if (r->id) out["id"] = *r->id;
  } else if (const auto* e = std::get_if<ErrorReply>(&message)) {
    out["error"] = {{"class", e->error_class}, {"desc", e->desc}};
    if (e->id) out["id"] = *e->id;
  } else {
    const auto& ev = std::get<Event>(message);
    out["event"] = ev.name;
    if (!ev.data.empty()) out["data"] = ev.data;
    out["timestamp"] = {{"seconds", ev.seconds}, {"microseconds", ev.microseconds}};
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace) + "\r\n";
}

std::string_view MessageKindName(const Message& message) {
  static constexpr std::array<std::string_view, 4> kNames = {"greeting", "return", "error",
                                                             "event"};
  return kNames[message.index()];
}

std::string Excerpt(std::string_view text, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const std::string_view shown = text.substr(0, max_bytes);
  out.reserve(shown.size() + 3);
  for (const char c : shown) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b >= 0x7f || c == '\\') {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    } else {
      out += c;
    }
  }
  if (shown.size() < text.size()) out += "...";
  return out;
}

}  // namespace mkd::qmp
