// Tests for the destination's answer to PLAN (plan_answer.h), on the destination's fakes: the
// table an arrival would start from, and the refusals a migration would meet, with nothing
// prepared on this host.
#include "migrate-tool/plan_answer.h"

#include <gtest/gtest.h>

#include <functional>

#include "genstore/digests.h"
#include "genstore/table_codec.h"
#include "migrate-tool/content_digest.h"
#include "migrate-tool/incoming_fakes.h"

namespace mkd::migrate {
namespace {

using testing::FakeHost;
using testing::FakeLink;

constexpr uint64_t kPages = 1024;  // TestVm(): 4 MiB

class PlanAnswerTest : public ::testing::Test {
 protected:
  PlanAnswerTest() {
    hello_.vm = host_.definition->uuid;
    hello_.epoch = 4;
    hello_.lineage = *Uuid::Parse("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    hello_.blocks = {{"ram", kPages}};
    hello_.source_host = "host-a";
    // Stored here in epoch 3 of the same lineage; pages 0-9 of generation 3, the rest 2.
    host_.memfs.summary.state = "stored";
    host_.memfs.summary.pages = kPages;
    host_.memfs.summary.epoch = 3;
    host_.memfs.summary.lineage = hello_.lineage;
    for (uint64_t p = 0; p < kPages; ++p) gens_.push_back(p < 10 ? 3 : 2);
    Store();
  }
  void Store() {
    stored_ = GenerationTable::FromGenerations(gens_);
    host_.memfs.table = EncodeTable({hello_.vm, "ram", 3, 0}, stored_);
  }
  static GenerationTable AnsweredTable(const FakeLink& link, const Hello& hello) {
    const std::vector<Frame> sent = link.sent();
    EXPECT_EQ(link.sent_types(), (std::vector<FrameType>{FrameType::kTable, FrameType::kResult}));
    Result<BlobFrame> blob = ParseBlob(sent.at(0).payload, 1);
    EXPECT_TRUE(blob.ok());
    Result<DecodedTable> t = DecodeTable(blob->blob);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->header.vm, hello.vm);
    return t->table;
  }
  // Only reads: no arrival, no write open, no QEMU.
  void ExpectOnlyRead() {
    for (const std::string& c : host_.memfs.calls) {
      EXPECT_TRUE(c == "has_ram" || c == "open") << c;
    }
    EXPECT_EQ(host_.qemu.starts, 0);
  }

  FakeHost host_;
  FakeLink link_{"host-a"};
  Hello hello_;
  std::vector<Generation> gens_;
  GenerationTable stored_;
};

TEST_F(PlanAnswerTest, AStoredIncarnationOfTheSameLineageIsAnsweredWithItsTable) {
  AnswerPlan(hello_, link_, host_);
  EXPECT_EQ(AnsweredTable(link_, hello_), stored_);
  ASSERT_EQ(link_.results().size(), 1u);
  EXPECT_TRUE(link_.results()[0].ok);
  EXPECT_NE(link_.results()[0].message.find("earlier stay"), std::string::npos)
      << link_.results()[0].message;
  ExpectOnlyRead();
}

TEST_F(PlanAnswerTest, NoMemoryOrAnotherLifeIsAnsweredWithAnEmptyTable) {
  host_.memfs.has_ram = false;
  AnswerPlan(hello_, link_, host_);
  EXPECT_EQ(AnsweredTable(link_, hello_), GenerationTable(kPages));
  EXPECT_NE(link_.results().at(0).message.find("no memory"), std::string::npos);

  FakeLink other("host-a");
  host_.memfs.has_ram = true;
  host_.memfs.summary.lineage = *Uuid::Parse("11111111-2222-4333-8444-555555555555");
  AnswerPlan(hello_, other, host_);
  EXPECT_EQ(AnsweredTable(other, hello_), GenerationTable(kPages))
      << "memfs drops another life on arrival";
  EXPECT_NE(other.results().at(0).message.find("another life"), std::string::npos);
  ExpectOnlyRead();
}

// A page's content and its OFFER entry.
OfferEntry EntryFor(uint64_t page, const std::string& content) {
  return {.page = page,
          .gen = 4,
          .digest = PageDigest(content.data()),
          .sha256 = PageSha256(content.data())};
}

TEST_F(PlanAnswerTest, OffersAreAnsweredWithTheNeedsAnArrivalWouldSendAndNothingIsCopied) {
  const std::string held(kPageSize, 'h'), other(kPageSize, 'o');
  host_.content_pages[PageSha256(held.data())] = held;
  link_.Push(FrameType::kOffer, EncodeOffer(0, {EntryFor(3, held), EntryFor(4, other)}));
  link_.Push(FrameType::kOffer, EncodeOffer(0, {EntryFor(9, other)}));
  AnswerPlan(hello_, link_, host_);
  EXPECT_EQ(link_.sent_types(), (std::vector<FrameType>{FrameType::kTable, FrameType::kResult,
                                                        FrameType::kNeed, FrameType::kNeed}));
  Result<NeedFrame> first = ParseNeed(link_.sent().at(2).payload, {kPages});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->offered, 2u);
  EXPECT_EQ(first->pages, std::vector<uint64_t>{4}) << "page 3's content is here";
  Result<NeedFrame> second = ParseNeed(link_.sent().at(3).payload, {kPages});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->pages, std::vector<uint64_t>{9});
  EXPECT_EQ(host_.content_own_file, true) << "the arrival would keep the stored memory";
  ExpectOnlyRead();
}

TEST_F(PlanAnswerTest, AnArrivalThatWouldDropTheVmsMemoryDoesNotCountItsPages) {
  host_.memfs.summary.lineage = *Uuid::Parse("11111111-2222-4333-8444-555555555555");
  AnswerPlan(hello_, link_, host_);
  EXPECT_EQ(host_.content_own_file, false);
}

TEST_F(PlanAnswerTest, APlanMayOfferNoMorePagesThanTheVmHasNorSendOtherFrames) {
  const std::string page(kPageSize, 'x');
  std::vector<OfferEntry> entries;
  for (uint64_t p = 0; p < kPages; ++p) entries.push_back(EntryFor(p, page));
  PlanOffersAnswered n;
  {
    FakeLink link("host-a");
    link.Push(FrameType::kOffer, EncodeOffer(0, entries));
    link.Push(FrameType::kOffer, EncodeOffer(0, {entries[0]}));
    testing::FakeContent content(host_.content_pages, &host_.content_prefetched);
    const Status s = AnswerPlanOffers(link, content, kPages, &n);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find("more pages"), std::string::npos) << s.ToString();
    EXPECT_EQ(n.offered, kPages);
    EXPECT_EQ(link.sent_types(), std::vector<FrameType>{FrameType::kNeed});
  }
  FakeLink link("host-a");
  link.Push(FrameType::kCommit);
  testing::FakeContent content(host_.content_pages, &host_.content_prefetched);
  const Status s = AnswerPlanOffers(link, content, kPages, &n);
  EXPECT_NE(s.message().find("only OFFER"), std::string::npos) << s.ToString();
  EXPECT_TRUE(link.sent_types().empty());
}

TEST_F(PlanAnswerTest, WhatAMigrationWouldMeetIsRefused) {
  struct Case {
    const char* what;
    std::function<void()> set;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"no definition", [&] { host_.definition.reset(); }, "no definition"},
      {"another size",
       [&] {
         hello_.blocks = {{"ram", kPages * 2}};
       },
       "does not match"},
      {"runs here", [&] { host_.qemu.running_before = true; }, "runs on this host"},
      {"arrives here", [&] { host_.memfs.summary.state = "incoming"; }, "is incoming"},
      {"a newer epoch here", [&] { host_.memfs.summary.epoch = 6; }, "epochs only move forward"},
      {"a page of the arriving epoch",
       [&] {
         gens_[7] = 5;
         Store();
       },
       "epochs only move forward"},
  };
  for (const Case& c : cases) {
    c.set();
    FakeLink link("host-a");
    AnswerPlan(hello_, link, host_);
    EXPECT_EQ(link.sent_types(), (std::vector<FrameType>{FrameType::kResult})) << c.what;
    ASSERT_EQ(link.results().size(), 1u) << c.what;
    EXPECT_FALSE(link.results()[0].ok) << c.what;
    EXPECT_NE(link.results()[0].message.find(c.says), std::string::npos)
        << c.what << ": " << link.results()[0].message;
    EXPECT_EQ(host_.qemu.starts, 0) << c.what;
    // Undo this case for the next one.
    host_.definition = testing::TestVm();
    hello_.blocks = {{"ram", kPages}};
    host_.qemu.running_before = false;
    host_.memfs.summary.state = "stored";
    host_.memfs.summary.epoch = 3;
    gens_[7] = 3;
    Store();
  }
  ExpectOnlyRead();
}

}  // namespace
}  // namespace mkd::migrate
