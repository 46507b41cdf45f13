// Fakes of the destination's ports (incoming_ports.h) for unit tests: a scripted source
// (incoming_fake_link.h), memfs (incoming_fake_memfs.h), the destination QEMU, its monitor and
// its incoming socket (incoming_fake_qemu.h), and here this host (FakeHost) holding one VM
// definition. Each records what was done to it, so a test asserts the memfs calls made (abort or
// commit), QEMU's fate and the frames sent. Test-only: compiled into the unit tests, never into
// the migrate library.
#ifndef MKD_MIGRATE_TOOL_INCOMING_FAKES_H_
#define MKD_MIGRATE_TOOL_INCOMING_FAKES_H_

#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "genstore/digests.h"
#include "migrate-tool/incoming.h"
#include "migrate-tool/incoming_fake_link.h"
#include "migrate-tool/incoming_fake_memfs.h"
#include "migrate-tool/incoming_fake_qemu.h"
#include "migrate-tool/incoming_ports.h"
#include "qemu-config/vm_definition.h"

namespace mkd::migrate {

// GoogleTest prints a phase by its name.
inline void PrintTo(Incoming::Phase phase, std::ostream* os) { *os << IncomingPhaseName(phase); }

namespace testing {

// A VM definition on memfs with `memory_mib` MiB of RAM (4 MiB: 1024 pages).
inline qemuconfig::VmDefinition TestVm(uint64_t memory_mib = 4) {
  qemuconfig::VmDefinition d;
  d.uuid = *Uuid::Parse("6f1c2a9e-0b7d-4c3e-9a51-2d8e4f6a7b90");
  d.name = "vm1";
  d.memory_mib = memory_mib;
  d.backing = qemuconfig::MemoryBacking::kMemfs;
  d.memory_dir = "/fake/memfs";
  d.run_dir = "/fake/run";
  d.kernel = "/fake/vmlinuz";
  return d;
}

// Pages of this host by content: found when an entry has the offer's SHA-256 and its content has
// the offer's XXH3-64.
class FakeContent final : public IncomingContent {
 public:
  FakeContent(const std::map<Sha256, std::string>& pages, int* prefetches)
      : pages_(pages), prefetches_(prefetches) {}
  bool Find(uint64_t digest, const Sha256& sha, char* out) override {
    auto it = pages_.find(sha);
    if (it == pages_.end() || PageDigest(it->second.data()) != digest) return false;
    std::copy(it->second.begin(), it->second.end(), out);
    return true;
  }
  std::string Summary() const override { return "fake"; }
  void Prefetch() override { ++*prefetches_; }

 private:
  const std::map<Sha256, std::string>& pages_;
  int* prefetches_;
};

// This host: holds `definition` (none when nullopt), its memfs and its QEMU.
class FakeHost final : public IncomingHost {
 public:
  std::optional<qemuconfig::VmDefinition> definition = TestVm();
  int loads = 0;
  FakeMemfs memfs;
  FakeQemu qemu;

  std::string DefinitionPath(const Uuid& vm) const override {
    return "/fake/vms/" + vm.ToString() + ".json";
  }
  Result<std::optional<qemuconfig::VmDefinition>> LoadDefinition(const Uuid&) override {
    ++loads;
    return definition;
  }
  std::unique_ptr<IncomingMemfs> MemfsFor(const qemuconfig::VmDefinition&) override {
    return std::make_unique<FakeMemfsDir>(memfs);
  }
  std::unique_ptr<IncomingQemu> QemuFor(const qemuconfig::VmDefinition&) override {
    return std::make_unique<FakeQemuProcess>(qemu);
  }
  // Pages this host holds by content: SHA-256 -> content (the fake finds by SHA-256 alone, and
  // checks that the offer's XXH3-64 is the content's, as the real index does).
  std::map<Sha256, std::string> content_pages;
  int content_opened = 0, content_prefetched = 0;
  std::optional<bool> content_own_file;  // ContentFor's last `own_file`
  std::unique_ptr<IncomingContent> ContentFor(const qemuconfig::VmDefinition&,
                                              bool own_file) override {
    ++content_opened;
    content_own_file = own_file;
    return std::make_unique<FakeContent>(content_pages, &content_prefetched);
  }
};

}  // namespace testing
}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_INCOMING_FAKES_H_
