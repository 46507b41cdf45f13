#include "qemu-config/qmp/message_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mkd::qmp {
namespace {

using ::testing::HasSubstr;

// What QEMU 7.2 sent after `stop`: the event, then the reply, in one read.
constexpr std::string_view kStopThenReply =
    "{\"timestamp\": {\"seconds\": 1795776183, \"microseconds\": 914934}, \"event\": "
    "\"STOP\"}\r\n{\"return\": {}, \"id\": 3}\r\n";

// Every result Next() gives, as "kind" or "error: message".
std::vector<std::string> Drain(MessageReader& reader) {
  std::vector<std::string> out;
  while (std::optional<Result<Message>> m = reader.Next()) {
    out.push_back(m->ok() ? std::string(MessageKindName(**m)) : "error: " + m->status().message());
  }
  return out;
}

TEST(QmpMessageReader, SeveralMessagesInOneRead) {
  MessageReader reader;
  ASSERT_TRUE(reader.Feed(kStopThenReply).ok());
  EXPECT_EQ(Drain(reader), (std::vector<std::string>{"event", "return"}));
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(QmpMessageReader, MessagesSplitAtEveryByteComeOutTheSame) {
  for (size_t cut = 0; cut <= kStopThenReply.size(); ++cut) {
    MessageReader reader;
    std::vector<std::string> got;
    ASSERT_TRUE(reader.Feed(kStopThenReply.substr(0, cut)).ok());
    for (auto& s : Drain(reader)) got.push_back(s);
    ASSERT_TRUE(reader.Feed(kStopThenReply.substr(cut)).ok());
    for (auto& s : Drain(reader)) got.push_back(s);
    EXPECT_EQ(got, (std::vector<std::string>{"event", "return"})) << "cut at " << cut;
  }
}

TEST(QmpMessageReader, OneByteAtATime) {
  MessageReader reader;
  std::vector<std::string> got;
  for (const char c : kStopThenReply) {
    ASSERT_TRUE(reader.Feed(std::string_view(&c, 1)).ok());
    for (auto& s : Drain(reader)) got.push_back(s);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"event", "return"}));
}

TEST(QmpMessageReader, PartialLineWaitsForItsNewline) {
  MessageReader reader;
  ASSERT_TRUE(reader.Feed("{\"return\": {}}").ok());
  EXPECT_FALSE(reader.Next().has_value());
  EXPECT_EQ(reader.buffered_bytes(), 14u);
  ASSERT_TRUE(reader.Feed("\n").ok());
  EXPECT_EQ(Drain(reader), std::vector<std::string>{"return"});
}

TEST(QmpMessageReader, SkipsBlankLinesAndAcceptsBareNewlines) {
  MessageReader reader;
  ASSERT_TRUE(reader.Feed("\r\n\n  \t\r\n{\"return\": 1}\n{\"return\": 2}\r\n").ok());
  EXPECT_EQ(Drain(reader), (std::vector<std::string>{"return", "return"}));
}

TEST(QmpMessageReader, MalformedLineIsReportedAndReadingGoesOn) {
  MessageReader reader;
  ASSERT_TRUE(reader.Feed("[1]\r\n{\"return\": {}}\r\n").ok());
  std::vector<std::string> got = Drain(reader);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_THAT(got[0], HasSubstr("not a JSON object"));
  EXPECT_EQ(got[1], "return");
  EXPECT_FALSE(reader.failed());
}

TEST(QmpMessageReader, OversizeCompleteLineIsFatal) {
  MessageReader reader({.max_message_bytes = 16, .max_buffered_bytes = 1024});
  ASSERT_TRUE(
      reader.Feed("{\"return\": 1}\r\n{\"return\": \"0123456789\"}\r\n{\"return\": 2}\n").ok());
  std::vector<std::string> got = Drain(reader);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "return");
  EXPECT_EQ(got[1], "error: QMP message longer than 16 bytes");
  EXPECT_TRUE(reader.failed());
  EXPECT_FALSE(reader.Next().has_value());
  EXPECT_EQ(reader.Feed("{}\n").message(), "QMP message longer than 16 bytes");
}

TEST(QmpMessageReader, OversizeLineWithoutNewlineIsFatalBeforeItEnds) {
  MessageReader reader({.max_message_bytes = 16, .max_buffered_bytes = 1024});
  ASSERT_TRUE(reader.Feed(std::string(16, ' ')).ok());
  EXPECT_FALSE(reader.Next().has_value());  // 16 bytes may still become a message
  ASSERT_TRUE(reader.Feed("x").ok());
  std::optional<Result<Message>> m = reader.Next();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->status().code(), ErrorCode::kCorrupt);
  EXPECT_TRUE(reader.failed());
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(QmpMessageReader, TotalBufferCapFailsFeed) {
  MessageReader reader({.max_message_bytes = 16, .max_buffered_bytes = 32});
  ASSERT_TRUE(reader.Feed("{\"return\": 1}\n{\"return\": 2}\n").ok());  // 28 bytes, not read yet
  const Status s = reader.Feed("{\"return\": 3}\n");
  EXPECT_EQ(s.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(s.message(), HasSubstr("more than 32 bytes"));
  EXPECT_TRUE(reader.failed());
  EXPECT_FALSE(reader.Next().has_value());
}

TEST(QmpMessageReader, ConsumedBytesDoNotCountAgainstTheCap) {
  MessageReader reader({.max_message_bytes = 16, .max_buffered_bytes = 32});
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(reader.Feed("{\"return\": 1}\r\n").ok()) << i;
    ASSERT_EQ(Drain(reader), std::vector<std::string>{"return"});
  }
}

TEST(QmpMessageReader, LastMessageBytesIsTheLineLength) {
  MessageReader reader;
  ASSERT_TRUE(reader.Feed("{\"return\": 1}\r\n").ok());
  ASSERT_TRUE(reader.Next().has_value());
  EXPECT_EQ(reader.last_message_bytes(), 14u);
}

}  // namespace
}  // namespace mkd::qmp
