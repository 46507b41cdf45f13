// Tests of the reuse-or-reset rule: a stored incarnation is reused only by an arrival of its
// lineage, reset by a cold boot or another life; the lineage a cold boot takes; which arrivals a
// stored incarnation admits. Pure: metadata in, decisions out.
#include "memfs/reuse_rule.h"

#include <gtest/gtest.h>

namespace mkd::memfs {
namespace {

IncarnationMeta Meta(IncarnationState state, Epoch epoch, const Uuid& lineage) {
  IncarnationMeta m;
  m.key = IncarnationKey{*Uuid::Parse("0b5c3bb0-6c2f-4d3e-9d7c-5a1e2f3a4b5c"), "ram", 4};
  m.state = state;
  m.epoch = epoch;
  m.lineage = lineage;
  return m;
}

using Action = OpenDecision::Action;

TEST(ReuseRuleTest, AnArrivalOfTheSameLineageReusesTheStoredIncarnation) {
  const Uuid lineage = Uuid::Random();
  const IncarnationMeta stored = Meta(IncarnationState::kStored, 3, lineage);
  const OpenDecision d = DecideWriterOpen(stored, Arrival{5, lineage}, {stored});
  EXPECT_EQ(d.action, Action::kReuse);
  EXPECT_EQ(d.start.state, IncarnationState::kIncoming);
  EXPECT_EQ(d.start.epoch, 5u);
  EXPECT_EQ(d.start.lineage, lineage);
}

TEST(ReuseRuleTest, AnArrivalOfAnotherLifeResetsItAsIncoming) {
  const IncarnationMeta stored = Meta(IncarnationState::kStored, 3, Uuid::Random());
  const Uuid other = Uuid::Random();
  const OpenDecision d = DecideWriterOpen(stored, Arrival{2, other}, {stored});
  EXPECT_EQ(d.action, Action::kReset);
  EXPECT_EQ(d.start.state, IncarnationState::kIncoming);
  EXPECT_EQ(d.start.epoch, 2u);
  EXPECT_EQ(d.start.lineage, other);
}

TEST(ReuseRuleTest, AColdBootResetsItToANewLifeInEpochOne) {
  const IncarnationMeta stored = Meta(IncarnationState::kStored, 3, Uuid::Random());
  const OpenDecision d = DecideWriterOpen(stored, std::nullopt, {stored});
  EXPECT_EQ(d.action, Action::kReset);
  EXPECT_EQ(d.start.state, IncarnationState::kLive);
  EXPECT_EQ(d.start.epoch, kFirstEpoch);
  EXPECT_NE(d.start.lineage, stored.lineage) << "its own stored lineage is not this life";
  EXPECT_FALSE(d.start.lineage.IsNil());
}

TEST(ReuseRuleTest, ALiveOrIncomingBlockIsKeptAsItIs) {
  const Uuid lineage = Uuid::Random();
  for (IncarnationState st : {IncarnationState::kLive, IncarnationState::kIncoming}) {
    const IncarnationMeta m = Meta(st, 2, lineage);
    EXPECT_EQ(DecideWriterOpen(m, std::nullopt, {m}).action, Action::kKeep);
    EXPECT_EQ(DecideWriterOpen(m, Arrival{3, lineage}, {m}).action, Action::kKeep);
  }
}

TEST(ReuseRuleTest, AColdBootJoinsTheLineageOfABlockLiveInEpochOne) {
  const Uuid booting = Uuid::Random();
  const IncarnationMeta stored = Meta(IncarnationState::kStored, 1, Uuid::Random());
  const IncarnationMeta sibling = Meta(IncarnationState::kLive, kFirstEpoch, booting);
  EXPECT_EQ(LineageOfThisLife({stored, sibling}), booting);
  EXPECT_EQ(DecideWriterOpen(stored, std::nullopt, {stored, sibling}).start.lineage, booting);
  const BlockStart created = StartOfNewBlock(std::nullopt, {sibling});
  EXPECT_EQ(created.state, IncarnationState::kLive);
  EXPECT_EQ(created.lineage, booting);
}

TEST(ReuseRuleTest, ABlockLiveInALaterEpochStartsNoSharedLife) {
  const IncarnationMeta later = Meta(IncarnationState::kLive, 4, Uuid::Random());
  const IncarnationMeta stored_first = Meta(IncarnationState::kStored, kFirstEpoch, Uuid::Random());
  const Uuid lineage = LineageOfThisLife({later, stored_first});
  EXPECT_NE(lineage, later.lineage);
  EXPECT_NE(lineage, stored_first.lineage);
}

TEST(ReuseRuleTest, ANewBlockArrivesIncomingInTheArrivalsEpochAndLineage) {
  const Uuid lineage = Uuid::Random();
  const BlockStart s = StartOfNewBlock(Arrival{7, lineage}, {});
  EXPECT_EQ(s.state, IncarnationState::kIncoming);
  EXPECT_EQ(s.epoch, 7u);
  EXPECT_EQ(s.lineage, lineage);
}

TEST(ReuseRuleTest, TheSameLineageArrivesOnlyInALaterEpochThanItsPages) {
  const Uuid lineage = Uuid::Random();
  const IncarnationMeta stored = Meta(IncarnationState::kStored, 3, lineage);
  int asked = 0;
  auto highest = [&asked](Generation g) {
    return [&asked, g] {
      ++asked;
      return g;
    };
  };
  // The stored epoch may be one reserved and never written in: arriving in it is fine.
  EXPECT_TRUE(CheckArrivalOverStored("vm", "ram", stored, highest(1), Arrival{3, lineage}).ok());
  Status below = CheckArrivalOverStored("vm", "ram", stored, highest(1), Arrival{2, lineage});
  EXPECT_EQ(below.code(), ErrorCode::kInvalidArgument);
  // A page written in epoch 3 (the VM went on here after a failed migration): 3 is taken.
  Status taken = CheckArrivalOverStored("vm", "ram", stored, highest(3), Arrival{3, lineage});
  EXPECT_EQ(taken.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(taken.message().find("generation up to 3"), std::string::npos) << taken.message();
  EXPECT_TRUE(CheckArrivalOverStored("vm", "ram", stored, highest(3), Arrival{4, lineage}).ok());
  EXPECT_EQ(asked, 4);
  // Another life may come in any epoch, and its table is not even looked at.
  EXPECT_TRUE(
      CheckArrivalOverStored("vm", "ram", stored, highest(9), Arrival{1, Uuid::Random()}).ok());
  EXPECT_EQ(asked, 4);
}

}  // namespace
}  // namespace mkd::memfs
