// `mkd-genstore demo`: a VM goes host-a -> host-b -> host-a, with an aborted attempt on the way
// back, using the real genstore pieces (generation tables, comparison, provisional pages, the
// RocksDB store with a reopen between hops). No pages move: it prints what each hop would send.
#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "genstore/cli/commands.h"
#include "genstore/cli/format.h"
#include "genstore/compare.h"
#include "genstore/store.h"
#include "genstore/table_codec.h"

namespace mkd::cli {
namespace {

// Marks about `percent` % of the pages dirty, in runs of 1..32 pages as guests tend to write.
PageBitmap GuestWrites(uint64_t pages, double percent, std::mt19937_64& rng) {
  PageBitmap dirty(pages);
  const auto target = static_cast<uint64_t>(static_cast<double>(pages) * percent / 100.0);
  while (dirty.Count() < target) {
    uint64_t first = rng() % pages;
    dirty.SetRange(first, std::min<uint64_t>(1 + rng() % 32, pages - first));
  }
  return dirty;
}

struct Host {
  std::string name;
  std::unique_ptr<Store> store;
};

Result<std::unique_ptr<Store>> OpenHost(const std::string& dir, const std::string& name) {
  return Store::Open(dir + "/" + name + ".db", name);
}

// The VM's record on `host`. A stored incarnation records when the VM left (now).
IncarnationMeta MetaOf(const Uuid& vm, const Uuid& lineage, const Host& host,
                       IncarnationState state, Epoch epoch, uint64_t pages, uint64_t incarnation) {
  IncarnationMeta m;
  m.key = {vm, "ram", incarnation};
  m.lineage = lineage;
  m.state = state;
  m.epoch = epoch;
  m.pages = pages;
  m.host_id = host.name;
  m.updated_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (state == IncarnationState::kStored) m.left_unix_ms = m.updated_unix_ms;
  return m;
}

// The incarnation a host holds of the VM's block (the newest), or an empty table.
Result<GenerationTable> PeerTable(const Host& host, const Uuid& vm, uint64_t* incarnation) {
  MKD_ASSIGN_OR_RETURN(std::vector<IncarnationMeta> metas, host.store->List(vm));
  *incarnation = 0;
  if (metas.empty()) return GenerationTable();
  *incarnation = metas.back().key.incarnation;
  MKD_ASSIGN_OR_RETURN(Incarnation inc, host.store->Get(metas.back().key));
  return std::move(inc.table);
}

void PrintHop(const std::string& label, const ReuseSummary& s, uint64_t first_hop_send) {
  std::string share = first_hop_send == 0 ? ""
                                          : fmt::format("  ({:.1f} % of hop 1)",
                                                        100.0 * static_cast<double>(s.to_send) /
                                                            static_cast<double>(first_hop_send));
  fmt::print("  {:<34} {:>10} {:>10} {:>10} {:>12}{}\n", label, Thousands(s.reusable),
             Thousands(s.zero), Thousands(s.to_send), Bytes(s.to_send * kPageSize), share);
}

int Fail(const Status& s) {
  fmt::print(stderr, "mkd-genstore demo: {}\n", s.ToString());
  return 1;
}

}  // namespace

int RunDemo(const DemoOptions& o) {
  std::mt19937_64 rng(o.seed);
  const bool temporary = o.work_dir.empty();
  std::string dir = o.work_dir;
  if (temporary) {
    char tmpl[] = "/tmp/mkd-genstore-demo-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return Fail(Status::Io("cannot create a temporary directory"));
    dir = tmpl;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Fail(Status::Io("cannot create " + dir + ": " + ec.message()));
  }
  struct Cleanup {
    std::string dir;
    bool active;
    ~Cleanup() {
      if (active) std::filesystem::remove_all(dir);
    }
  } cleanup{dir, temporary};

  const Uuid vm = Uuid::Random();
  const Uuid lineage = Uuid::Random();  // the VM boots cold once: one life for the whole demo
  fmt::print("miyakodori genstore demo: VM {} with {} pages ({}) goes host-a -> host-b -> host-a\n",
             vm.ToString(), Thousands(o.pages), Bytes(o.pages * kPageSize));
  fmt::print(
      "Generation tables only: this shows what each hop sends; memfs and mkd-migrate move "
      "the pages.\nStores (RocksDB, one per host): {}/host-a.db, {}/host-b.db\n\n",
      dir, dir);

  Host a{"host-a", nullptr}, b{"host-b", nullptr};
  for (Host* h : {&a, &b}) {
    Result<std::unique_ptr<Store>> s = OpenHost(dir, h->name);
    if (!s.ok()) return Fail(s.status());
    h->store = std::move(*s);
  }

  // Boot on host-a, epoch 1.
  Epoch epoch = kFirstEpoch;
  GenerationTable live(o.pages);
  PageBitmap dirty = GuestWrites(o.pages, o.boot_percent, rng);
  if (Status s = live.ApplyDirty(dirty, epoch); !s.ok()) return Fail(s);
  fmt::print("boot on host-a (epoch {}): the guest writes {} pages\n", epoch,
             Thousands(dirty.Count()));

  fmt::print("\n  {:<34} {:>10} {:>10} {:>10} {:>12}\n", "hop", "reusable", "zero", "sent",
             "bytes sent");
  PageBitmap reusable(o.pages);

  // Hop 1: host-a -> host-b. host-b has never seen the VM.
  uint64_t b_inc = 0;
  Result<GenerationTable> peer = PeerTable(b, vm, &b_inc);
  if (!peer.ok()) return Fail(peer.status());
  ReuseSummary hop1 = ComputeReusable(live, *peer, &reusable);
  PrintHop("1  host-a -> host-b", hop1, 0);
  // host-a keeps what the VM left; host-b's incarnation becomes live in the next epoch.
  if (Status s =
          a.store->Put(MetaOf(vm, lineage, a, IncarnationState::kStored, epoch, o.pages, 1), live);
      !s.ok()) {
    return Fail(s);
  }
  ++epoch;
  if (Status s = b.store->Put(
          MetaOf(vm, lineage, b, IncarnationState::kLive, epoch, o.pages, b_inc + 1), live);
      !s.ok()) {
    return Fail(s);
  }

  // On host-b the guest writes a few percent of its memory.
  dirty = GuestWrites(o.pages, o.dirty_percent, rng);
  if (Status s = live.ApplyDirty(dirty, epoch); !s.ok()) return Fail(s);

  // host-a restarts its daemon: the stored incarnation comes back from RocksDB.
  a.store.reset();
  Result<std::unique_ptr<Store>> reopened = OpenHost(dir, "host-a");
  if (!reopened.ok()) return Fail(reopened.status());
  a.store = std::move(*reopened);
  uint64_t a_inc = 0;
  Result<GenerationTable> on_a = PeerTable(a, vm, &a_inc);
  if (!on_a.ok()) return Fail(on_a.status());

  // Hop 2, first attempt: round 1 is sent, the guest rewrites some of those pages, and the
  // migration aborts. The pages it wrote into host-a can no longer be trusted.
  ReuseSummary attempt = ComputeReusable(live, *on_a, &reusable);
  PrintHop("2a host-b -> host-a, aborted", attempt, hop1.to_send);
  for (uint64_t p = 0; p < o.pages; ++p) {
    if (!reusable.Test(p) && live.Get(p) != kGenNeverWritten) {
      if (Status s = on_a->SetProvisional(p, live.Get(p)); !s.ok()) return Fail(s);
    }
  }
  const uint64_t invalidated = on_a->provisional_count();
  on_a->AbortProvisional();
  fmt::print("     (aborted after round 1: the {} pages it wrote into host-a are now invalid)\n",
             Thousands(invalidated));
  if (Status s = a.store->Put(
          MetaOf(vm, lineage, a, IncarnationState::kStored, epoch - 1, o.pages, a_inc), *on_a);
      !s.ok()) {
    return Fail(s);
  }
  dirty = GuestWrites(o.pages, o.dirty_percent / 5, rng);
  if (Status s = live.ApplyDirty(dirty, epoch); !s.ok()) return Fail(s);

  // Hop 2, second attempt: everything the abort invalidated is sent again, nothing else.
  ReuseSummary hop2 = ComputeReusable(live, *on_a, &reusable);
  PrintHop("2b host-b -> host-a", hop2, hop1.to_send);

  const std::string encoded = EncodeTable(CodecHeader{vm, "ram", epoch, 0}, live);
  fmt::print("\nThe VM's generation table: {} raw, {} encoded ({}).\n",
             Bytes(o.pages * sizeof(Generation)), Bytes(encoded.size()),
             "runs of equal generations are stored once");
  fmt::print("Coming back to host-a sends {:.1f} % of what the first hop sent.\n",
             100.0 * static_cast<double>(hop2.to_send) /
                 static_cast<double>(std::max<uint64_t>(1, hop1.to_send)));
  if (!temporary) fmt::print("Inspect: mkd-genstore list --db {}/host-a.db\n", dir);
  return 0;
}

}  // namespace mkd::cli
