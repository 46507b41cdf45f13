// Tests for the per-host RocksDB store: put/get/list/delete, host binding, and detection of
// damaged or inconsistent records. Each test uses its own temporary directory.
#include "genstore/store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <functional>

#include "genstore/digests.h"
#include "genstore/table_codec.h"

namespace mkd {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mkd-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> OpenOrDie(const std::string& host = "host-a") {
    Result<std::unique_ptr<Store>> s = Store::Open(dir_, host);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  static IncarnationMeta Meta(const Uuid& vm, std::string block, uint64_t inc, uint64_t pages) {
    IncarnationMeta m;
    m.key = {vm, std::move(block), inc};
    m.lineage = *Uuid::Parse("0d6f3c1b-7a2e-4f15-8b9c-a1b2c3d4e5f6");
    m.state = IncarnationState::kStored;
    m.epoch = 2;
    m.pages = pages;
    m.host_id = "host-a";
    m.left_unix_ms = 1795000000000;
    return m;
  }

  // The RocksDB key of one part ('M', 'T' or 'D') of a record (docs/formats.md).
  static std::string RawKey(const Uuid& vm, const std::string& block, uint8_t inc, char part) {
    std::string key = "I";
    key.append(reinterpret_cast<const char*>(vm.bytes.data()), 16);
    key += static_cast<char>(block.size());
    key += block;
    key.append(7, '\0');
    key += static_cast<char>(inc);
    key += part;
    return key;
  }

  // Opens the database directly (the store must be closed) and replaces one value.
  void Overwrite(const std::string& key, const std::function<void(std::string*)>& edit) {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir_, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), key, &value).ok());
    edit(&value);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, value).ok());
  }

  // The raw value of a key (the store must be closed).
  bool RawGet(const std::string& key, std::string* value) {
    rocksdb::DB* raw = nullptr;
    EXPECT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), dir_, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    return db && db->Get(rocksdb::ReadOptions(), key, value).ok();
  }

  bool HasRawKey(const std::string& key) {
    rocksdb::DB* raw = nullptr;
    EXPECT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), dir_, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string value;
    return db && db->Get(rocksdb::ReadOptions(), key, &value).ok();
  }

  std::string dir_;
};

TEST_F(StoreTest, PutThenGetReturnsTheSameRecord) {
  auto store = OpenOrDie();
  Uuid vm = Uuid::Random();
  GenerationTable t = GenerationTable::FromGenerations({0, 1, 2, 2, kGenInvalid});
  ASSERT_TRUE(store->Put(Meta(vm, "ram", 1, 5), t).ok());
  Result<Incarnation> got = store->Get({vm, "ram", 1});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->meta, Meta(vm, "ram", 1, 5));
  EXPECT_EQ(got->table, t);
}

TEST_F(StoreTest, RecordsSurviveReopen) {
  Uuid vm = Uuid::Random();
  {
    auto store = OpenOrDie();
    ASSERT_TRUE(store->Put(Meta(vm, "ram", 3, 2), GenerationTable::FromGenerations({4, 4})).ok());
  }
  auto store = OpenOrDie();
  Result<Incarnation> got = store->Get({vm, "ram", 3});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->table.Get(1), 4u);
}

TEST_F(StoreTest, ListIsOrderedAndFiltersByVm) {
  auto store = OpenOrDie();
  Uuid a = *Uuid::Parse("00000000-0000-4000-8000-000000000001");
  Uuid b = *Uuid::Parse("00000000-0000-4000-8000-000000000002");
  GenerationTable t(1);
  ASSERT_TRUE(store->Put(Meta(b, "ram", 1, 1), t).ok());
  ASSERT_TRUE(store->Put(Meta(a, "ram", 256, 1), t).ok());
  ASSERT_TRUE(store->Put(Meta(a, "ram", 2, 1), t).ok());
  ASSERT_TRUE(store->Put(Meta(a, "ram-node1", 1, 1), t).ok());
  Result<std::vector<IncarnationMeta>> all = store->List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].key, (IncarnationKey{a, "ram", 2}));
  EXPECT_EQ((*all)[1].key, (IncarnationKey{a, "ram", 256}));  // numeric, not lexical, order
  EXPECT_EQ((*all)[3].key.vm, b);
  Result<std::vector<IncarnationMeta>> only_b = store->List(b);
  ASSERT_TRUE(only_b.ok());
  ASSERT_EQ(only_b->size(), 1u);
}

TEST_F(StoreTest, DeleteRemovesBothParts) {
  auto store = OpenOrDie();
  Uuid vm = Uuid::Random();
  ASSERT_TRUE(store->Put(Meta(vm, "ram", 1, 1), GenerationTable(1)).ok());
  ASSERT_TRUE(store->Delete({vm, "ram", 1}).ok());
  EXPECT_EQ(store->Get({vm, "ram", 1}).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->Delete({vm, "ram", 1}).code(), ErrorCode::kNotFound);
}

TEST_F(StoreTest, PutRejectsInconsistentRecords) {
  auto store = OpenOrDie();
  Uuid vm = Uuid::Random();
  EXPECT_EQ(store->Put(Meta(vm, "ram", 1, 3), GenerationTable(2)).code(),
            ErrorCode::kInvalidArgument);
  IncarnationMeta other_host = Meta(vm, "ram", 1, 2);
  other_host.host_id = "host-b";
  EXPECT_EQ(store->Put(other_host, GenerationTable(2)).code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(store->Put(Meta(vm, "a/b", 1, 2), GenerationTable(2)).ok());
}

TEST_F(StoreTest, DirectoryIsBoundToOneHost) {
  { auto store = OpenOrDie("host-a"); }
  Result<std::unique_ptr<Store>> other = Store::Open(dir_, "host-b");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(other.status().message().find("host-a"), std::string::npos);
}

TEST_F(StoreTest, SecondOpenWhileInUseIsRefusedWithAHint) {
  auto store = OpenOrDie();
  Result<std::unique_ptr<Store>> second = Store::Open(dir_, "host-a");
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("--db"), std::string::npos) << second.status().message();
}

TEST_F(StoreTest, ReadOnlyOpenInspectsWhileTheWriterHasItOpen) {
  auto writer = OpenOrDie("host-a");
  Uuid vm = Uuid::Random();
  ASSERT_TRUE(writer->Put(Meta(vm, "ram", 1, 1), GenerationTable(1)).ok());
  Result<std::unique_ptr<Store>> reader = Store::OpenReadOnly(dir_);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->host_id(), "host-a");
  Result<std::vector<IncarnationMeta>> all = (*reader)->List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
  EXPECT_EQ((*reader)->Put(Meta(vm, "ram", 2, 1), GenerationTable(1)).code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ((*reader)->Delete({vm, "ram", 1}).code(), ErrorCode::kFailedPrecondition);
}

TEST_F(StoreTest, ReadOnlyOpenOfANonStoreFails) {
  EXPECT_FALSE(Store::OpenReadOnly(dir_ + "/nothing-here").ok());
}

TEST_F(StoreTest, DamagedOrMismatchedTablesAreReportedAsCorrupt) {
  Uuid vm = Uuid::Random();
  { ASSERT_TRUE(OpenOrDie()->Put(Meta(vm, "ram", 1, 2), GenerationTable(2)).ok()); }
  // Replace the table value behind the store's back: once damaged, once a valid table of
  // another size. Keys follow docs/formats.md.
  const std::string key = RawKey(vm, "ram", 1, 'T');
  for (int variant = 0; variant < 2; ++variant) {
    Overwrite(key, [&](std::string* value) {
      if (variant == 0) {
        (*value)[value->size() / 2] ^= 1;
      } else {
        *value = EncodeTable(CodecHeader{vm, "ram", 2, 0}, GenerationTable(3));
      }
    });
    Result<Incarnation> got = OpenOrDie()->Get({vm, "ram", 1});
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), ErrorCode::kCorrupt) << got.status().ToString();
  }
}

TEST_F(StoreTest, DigestsRoundTripWithTheRecord) {
  Uuid vm = Uuid::Random();
  const std::vector<uint64_t> digests = {ZeroPageDigest(), 0x1234, 0xfedcba9876543210u};
  {
    auto store = OpenOrDie();
    const PageDigests d = PageDigests::FromDense(digests);
    ASSERT_TRUE(store->Put(Meta(vm, "ram", 1, 3), GenerationTable(3), &d).ok());
    ASSERT_TRUE(store->Put(Meta(vm, "ram", 2, 3), GenerationTable(3)).ok());
  }
  auto store = OpenOrDie();  // and they survive a reopen
  Result<Incarnation> got = store->Get({vm, "ram", 1});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->digests.has_value());
  EXPECT_EQ(got->digests->ToDense(), digests);
  EXPECT_EQ(got->meta, Meta(vm, "ram", 1, 3));
  Result<Incarnation> without = store->Get({vm, "ram", 2});
  ASSERT_TRUE(without.ok()) << without.status().ToString();
  EXPECT_FALSE(without->digests.has_value());
  // List shows each record once, digests or not.
  Result<std::vector<IncarnationMeta>> all = store->List(vm);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
}

TEST_F(StoreTest, PutWithoutDigestsDropsTheOldDigests) {
  Uuid vm = Uuid::Random();
  {
    auto store = OpenOrDie();
    const PageDigests d = PageDigests::FromDense(std::vector<uint64_t>{1, 2});
    ASSERT_TRUE(store->Put(Meta(vm, "ram", 1, 2), GenerationTable(2), &d).ok());
    IncarnationMeta next = Meta(vm, "ram", 1, 2);
    next.serial = 1;
    ASSERT_TRUE(store->Put(next, GenerationTable(2)).ok());
    Result<Incarnation> got = store->Get({vm, "ram", 1});
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->meta.serial, 1u);
    EXPECT_FALSE(got->digests.has_value());
  }
  EXPECT_FALSE(HasRawKey(RawKey(vm, "ram", 1, 'D')));
}

TEST_F(StoreTest, PutRejectsAMismatchedDigestCount) {
  auto store = OpenOrDie();
  Uuid vm = Uuid::Random();
  for (const std::vector<uint64_t>& digests :
       {std::vector<uint64_t>{1, 2}, std::vector<uint64_t>{1, 2, 3, 4}}) {
    const PageDigests d = PageDigests::FromDense(digests);
    Status s = store->Put(Meta(vm, "ram", 1, 3), GenerationTable(3), &d);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.ToString();
  }
  EXPECT_EQ(store->Get({vm, "ram", 1}).status().code(), ErrorCode::kNotFound);
}

TEST_F(StoreTest, PutRejectsANilLineage) {
  auto store = OpenOrDie();
  IncarnationMeta m = Meta(Uuid::Random(), "ram", 1, 1);
  m.lineage = Uuid();
  EXPECT_EQ(store->Put(m, GenerationTable(1)).code(), ErrorCode::kInvalidArgument);
}

TEST_F(StoreTest, DamagedOrMismatchedDigestsAreReportedAsCorrupt) {
  Uuid vm = Uuid::Random();
  {
    const PageDigests d = PageDigests::FromDense(std::vector<uint64_t>{7, 8});
    ASSERT_TRUE(OpenOrDie()->Put(Meta(vm, "ram", 1, 2), GenerationTable(2), &d).ok());
  }
  const std::string key = RawKey(vm, "ram", 1, 'D');
  // Damaged; valid digests of another page count; of another block; of another epoch.
  for (int variant = 0; variant < 4; ++variant) {
    Overwrite(key, [&](std::string* value) {
      if (variant == 0) {
        (*value)[value->size() / 2] ^= 1;
      } else if (variant == 1) {
        *value = EncodeDigests(CodecHeader{vm, "ram", 2, 0}, std::vector<uint64_t>{7, 8, 9});
      } else if (variant == 2) {
        *value = EncodeDigests(CodecHeader{vm, "ram-node1", 2, 0}, std::vector<uint64_t>{7, 8});
      } else {
        *value = EncodeDigests(CodecHeader{vm, "ram", 3, 0}, std::vector<uint64_t>{7, 8});
      }
    });
    Result<Incarnation> got = OpenOrDie()->Get({vm, "ram", 1});
    ASSERT_FALSE(got.ok()) << variant;
    EXPECT_EQ(got.status().code(), ErrorCode::kCorrupt) << got.status().ToString();
  }
}

TEST_F(StoreTest, DigestsWrittenByEarlierBuildsAreRead) {
  Uuid vm = Uuid::Random();
  const std::vector<uint64_t> digests = {ZeroPageDigest(), 0x1234, 0x5678};
  {
    auto store = OpenOrDie();
    const PageDigests d = PageDigests::FromDense(digests);
    ASSERT_TRUE(store->Put(Meta(vm, "ram", 1, 3), GenerationTable(3), &d).ok());
  }
  Overwrite(RawKey(vm, "ram", 1, 'D'), [&](std::string* value) {
    *value = internal::EncodeDigestsV1(CodecHeader{vm, "ram", 2, 0}, digests);  // version 1
  });
  Result<Incarnation> got = OpenOrDie()->Get({vm, "ram", 1});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->digests.has_value());
  EXPECT_EQ(got->digests->ToDense(), digests);
}

TEST_F(StoreTest, TheRecordOfALargeEmptyBlockIsSmall) {
  // A 64 GiB block nothing was written to (QEMU sized it and exited): its record must not cost
  // what the block's size would (it was a 128 MiB digest value, 2 GiB for 1 TiB).
  Uuid vm = Uuid::Random();
  const uint64_t pages = uint64_t{64} << 18;
  {
    const PageDigests d(pages);
    ASSERT_TRUE(OpenOrDie()->Put(Meta(vm, "ram", 1, pages), GenerationTable(pages), &d).ok());
  }
  for (char part : {'M', 'T', 'D'}) {
    std::string value;
    ASSERT_TRUE(RawGet(RawKey(vm, "ram", 1, part), &value)) << part;
    EXPECT_LT(value.size(), 64u * 1024) << part;
  }
  Result<Incarnation> got = OpenOrDie()->Get({vm, "ram", 1});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->digests->pages(), pages);
  EXPECT_EQ(got->digests->stored(), 0u);
}

TEST_F(StoreTest, DeleteRemovesTheDigestsToo) {
  Uuid vm = Uuid::Random();
  {
    auto store = OpenOrDie();
    const PageDigests d = PageDigests::FromDense(std::vector<uint64_t>{5});
    ASSERT_TRUE(store->Put(Meta(vm, "ram", 1, 1), GenerationTable(1), &d).ok());
    ASSERT_TRUE(store->Delete({vm, "ram", 1}).ok());
    EXPECT_EQ(store->Get({vm, "ram", 1}).status().code(), ErrorCode::kNotFound);
  }
  EXPECT_FALSE(HasRawKey(RawKey(vm, "ram", 1, 'D')));
  EXPECT_FALSE(HasRawKey(RawKey(vm, "ram", 1, 'M')));
}

}  // namespace
}  // namespace mkd
