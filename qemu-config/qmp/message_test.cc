#include "qemu-config/qmp/message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace mkd::qmp {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// Lines exactly as QEMU 7.2.22 wrote them on this machine (without "\n").
constexpr std::string_view kGreeting =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r";
constexpr std::string_view kStatusReturn =
    "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
    "\"id\": 1}\r";
constexpr std::string_view kMigrateError =
    "{\"id\": 6, \"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'uri' expects a "
    "valid migration protocol\"}}\r";
constexpr std::string_view kStop =
    "{\"timestamp\": {\"seconds\": 1795776183, \"microseconds\": 914934}, \"event\": \"STOP\"}\r";
constexpr std::string_view kMigration =
    "{\"timestamp\": {\"seconds\": 1795776201, \"microseconds\": 322814}, \"event\": "
    "\"MIGRATION\", \"data\": {\"status\": \"active\"}}\r";

template <typename T>
T ParseAs(std::string_view text) {
  Result<Message> m = ParseMessage(text);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok() || !std::holds_alternative<T>(*m)) {
    ADD_FAILURE() << "not the expected kind: " << text;
    return T{};
  }
  return std::get<T>(*m);
}

// The Status of a message that must be refused.
Status Refusal(std::string_view text) {
  Result<Message> m = ParseMessage(text);
  EXPECT_FALSE(m.ok()) << "accepted: " << text;
  EXPECT_EQ(m.status().code(), ErrorCode::kCorrupt);
  return m.status();
}

TEST(QmpMessage, ParsesQemu72Greeting) {
  const Greeting g = ParseAs<Greeting>(kGreeting);
  EXPECT_EQ(g.major, 7);
  EXPECT_EQ(g.minor, 2);
  EXPECT_EQ(g.micro, 22);
  EXPECT_EQ(g.package, "Debian 1:7.2+dfsg-7+deb12u18+b3");
  EXPECT_EQ(g.capabilities, std::vector<std::string>{"oob"});
}

TEST(QmpMessage, ParsesReturnWithAndWithoutId) {
  const ReturnReply r = ParseAs<ReturnReply>(kStatusReturn);
  ASSERT_TRUE(r.id.has_value());
  EXPECT_EQ(*r.id, json(1));
  EXPECT_EQ(r.value["status"], "running");

  const ReturnReply bare = ParseAs<ReturnReply>("{\"return\": {}}");
  EXPECT_FALSE(bare.id.has_value());
  EXPECT_EQ(bare.value, json::object());

  const ReturnReply odd_id = ParseAs<ReturnReply>(R"({"return": [1, "x"], "id": {"x": [1]}})");
  EXPECT_EQ(*odd_id.id, json::parse(R"({"x": [1]})"));
  EXPECT_EQ(odd_id.value, json::parse(R"([1, "x"])"));
}

TEST(QmpMessage, ParsesErrorClassAndDesc) {
  const ErrorReply e = ParseAs<ErrorReply>(kMigrateError);
  EXPECT_EQ(e.error_class, "GenericError");
  EXPECT_EQ(e.desc, "Parameter 'uri' expects a valid migration protocol");
  EXPECT_EQ(*e.id, json(6));
  // QEMU's reply to input it could not read has no id.
  const ErrorReply no_id = ParseAs<ErrorReply>(
      R"({"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}})");
  EXPECT_FALSE(no_id.id.has_value());
}

TEST(QmpMessage, EventWithoutDataGetsEmptyObject) {
  const Event stop = ParseAs<Event>(kStop);
  EXPECT_EQ(stop.name, "STOP");
  EXPECT_EQ(stop.data, json::object());
  EXPECT_EQ(stop.seconds, 1795776183);
  EXPECT_EQ(stop.microseconds, 914934);

  const Event migration = ParseAs<Event>(kMigration);
  EXPECT_EQ(migration.name, "MIGRATION");
  EXPECT_EQ(migration.data["status"], "active");
}

TEST(QmpMessage, IgnoresUnknownKeysAndSurroundingWhitespace) {
  const ReturnReply r = ParseAs<ReturnReply>("  {\"return\": 5, \"future\": [1]}  \r");
  EXPECT_EQ(r.value, json(5));
}

TEST(QmpMessage, RefusesWhatIsNotJsonOrNotAnObject) {
  EXPECT_THAT(Refusal("hello").message(), HasSubstr("not valid JSON"));
  EXPECT_THAT(Refusal("").message(), HasSubstr("not valid JSON"));
  EXPECT_THAT(Refusal("{\"return\": {}").message(), HasSubstr("not valid JSON"));
  EXPECT_THAT(Refusal("{\"return\": 1}{\"return\": 2}").message(), HasSubstr("not valid JSON"));
  EXPECT_THAT(Refusal("{\"return\": 1e400}").message(), HasSubstr("not valid JSON"));
  EXPECT_THAT(Refusal("{\"return\": \"\xff\"}").message(), HasSubstr("not valid JSON"));
  for (const char* text : {"[1]", "\"return\"", "42", "null", "true"}) {
    EXPECT_THAT(Refusal(text).message(), HasSubstr("not a JSON object")) << text;
  }
}

TEST(QmpMessage, RefusesNoKindOrTwoKinds) {
  EXPECT_THAT(Refusal("{}").message(), HasSubstr("none of"));
  EXPECT_THAT(Refusal(R"({"id": 1})").message(), HasSubstr("none of"));
  EXPECT_THAT(Refusal(R"({"return": {}, "error": {"class": "a", "desc": "b"}})").message(),
              HasSubstr("has both \"return\" and \"error\""));
  EXPECT_THAT(Refusal(R"({"event": "STOP", "QMP": {}})").message(), HasSubstr("has both"));
}

TEST(QmpMessage, RefusesErrorsWithoutClassOrDesc) {
  EXPECT_THAT(Refusal(R"({"error": {"desc": "x"}})").message(), HasSubstr("\"class\""));
  EXPECT_THAT(Refusal(R"({"error": {"class": 3, "desc": "x"}})").message(), HasSubstr("class"));
  EXPECT_THAT(Refusal(R"({"error": {"class": "", "desc": "x"}})").message(), HasSubstr("empty"));
  EXPECT_THAT(Refusal(R"({"error": {"class": "GenericError"}})").message(), HasSubstr("\"desc\""));
  EXPECT_THAT(Refusal(R"({"error": {"class": "GenericError", "desc": null}})").message(),
              HasSubstr("\"desc\""));
  EXPECT_THAT(Refusal(R"({"error": "GenericError"})").message(), HasSubstr("not an object"));
}

TEST(QmpMessage, RefusesEventsWithWrongTypes) {
  EXPECT_THAT(Refusal(R"({"event": 1, "timestamp": {"seconds": 1, "microseconds": 2}})").message(),
              HasSubstr("\"event\""));
  EXPECT_THAT(Refusal(R"({"event": "", "timestamp": {"seconds": 1, "microseconds": 2}})").message(),
              HasSubstr("\"event\""));
  EXPECT_THAT(Refusal(R"({"event": "STOP"})").message(), HasSubstr("timestamp"));
  EXPECT_THAT(
      Refusal(R"({"event": "STOP", "timestamp": {"seconds": 1.5, "microseconds": 2}})").message(),
      HasSubstr("timestamp.seconds"));
  EXPECT_THAT(Refusal(R"({"event": "STOP", "timestamp": {"seconds": 1}})").message(),
              HasSubstr("timestamp"));
  EXPECT_THAT(
      Refusal(
          R"({"event": "STOP", "timestamp": {"seconds": 18446744073709551615, "microseconds": 0}})")
          .message(),
      HasSubstr("timestamp"));
  EXPECT_THAT(
      Refusal(R"({"event": "X", "data": [1], "timestamp": {"seconds": 1, "microseconds": 2}})")
          .message(),
      HasSubstr("\"data\" is not an object"));
}

TEST(QmpMessage, RefusesGreetingsWithWrongTypes) {
  EXPECT_THAT(Refusal(R"({"QMP": []})").message(), HasSubstr("\"QMP\" is not an object"));
  EXPECT_THAT(Refusal(R"({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0},
                         "package": ""}}})")
                  .message(),
              HasSubstr("capabilities"));
  EXPECT_THAT(Refusal(R"({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0},
                         "package": ""}, "capabilities": [1]}})")
                  .message(),
              HasSubstr("capability"));
  EXPECT_THAT(Refusal(R"({"QMP": {"version": {"qemu": {"major": -7, "minor": 2, "micro": 0},
                         "package": ""}, "capabilities": []}})")
                  .message(),
              HasSubstr("version.qemu.major"));
  EXPECT_THAT(Refusal(R"({"QMP": {"version": {"qemu": {"major": 7, "minor": "2", "micro": 0},
                         "package": ""}, "capabilities": []}})")
                  .message(),
              HasSubstr("version.qemu.minor"));
  EXPECT_THAT(Refusal(R"({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}},
                         "capabilities": []}})")
                  .message(),
              HasSubstr("package"));
  EXPECT_THAT(Refusal(R"({"QMP": {"capabilities": []}})").message(), HasSubstr("version"));
}

TEST(QmpMessage, RefusesDeepNestingAndOversizeBeforeParsing) {
  const std::string deep = "{\"return\": " + std::string(kMaxNestingDepth, '[') +
                           std::string(kMaxNestingDepth, ']') + "}";
  EXPECT_THAT(Refusal(deep).message(), HasSubstr("nested deeper"));
  // Brackets inside strings do not count.
  const std::string in_string = "{\"return\": \"" + std::string(10000, '[') + "\\\"\"}";
  EXPECT_TRUE(ParseMessage(in_string).ok());

  std::string huge = "{\"return\": \"" + std::string(kMaxMessageBytes, 'x') + "\"}";
  EXPECT_THAT(Refusal(huge).message(), HasSubstr("longer than"));
}

TEST(QmpMessage, RefusalQuotesAnEscapedExcerpt) {
  const Status s = Refusal("\x01\x02garbage\xff\n and more");
  EXPECT_THAT(s.message(), HasSubstr("\\x01\\x02garbage\\xff\\x0a and more"));
  EXPECT_EQ(Excerpt(std::string(100, 'a'), 4), "aaaa...");
  EXPECT_EQ(Excerpt("a\\b"), "a\\x5cb");
}

TEST(QmpMessage, EncodeRoundTrips) {
  for (std::string_view text : {kGreeting, kStatusReturn, kMigrateError, kStop, kMigration}) {
    Result<Message> m = ParseMessage(text);
    ASSERT_TRUE(m.ok());
    const std::string encoded = EncodeMessage(*m);
    EXPECT_TRUE(encoded.ends_with("\r\n"));
    Result<Message> again = ParseMessage(encoded);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(*again, *m) << encoded;
  }
}

TEST(QmpMessage, KindNames) {
  EXPECT_EQ(MessageKindName(Message(Greeting{})), "greeting");
  EXPECT_EQ(MessageKindName(Message(ReturnReply{})), "return");
  EXPECT_EQ(MessageKindName(Message(ErrorReply{})), "error");
  EXPECT_EQ(MessageKindName(Message(Event{})), "event");
}

}  // namespace
}  // namespace mkd::qmp
