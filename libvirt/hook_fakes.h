// Fakes of the hook's ports (hook_ports.h) for its unit tests: definitions from a map, memfs
// mounts and RAM file states from maps, directories recorded instead of made. Each records
// what it was asked, in order, in `calls`. Touch nothing. Test-only; not thread-safe (one test,
// one thread).
#ifndef MKD_LIBVIRT_HOOK_FAKES_H_
#define MKD_LIBVIRT_HOOK_FAKES_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "libvirt/hook_ports.h"

namespace mkd::libvirt::testing {

class FakeDefinitions final : public Definitions {
 public:
  std::map<std::string, qemuconfig::VmDefinition> by_uuid;  // key: Uuid::ToString()
  std::map<std::string, Status> errors;                     // Find fails for these UUIDs
  std::vector<std::string> calls;

  Result<std::optional<qemuconfig::VmDefinition>> Find(const Uuid& uuid) override {
    const std::string key = uuid.ToString();
    calls.push_back("find " + key);
    if (auto e = errors.find(key); e != errors.end()) return e->second;
    auto it = by_uuid.find(key);
    if (it == by_uuid.end()) return std::optional<qemuconfig::VmDefinition>();
    return std::optional<qemuconfig::VmDefinition>(it->second);
  }
  std::string PathOf(const Uuid& uuid) const override {
    return "/etc/miyakodori/vms/" + uuid.ToString() + ".json";
  }
};

class FakeMemfs final : public Memfs {
 public:
  std::set<std::string> mounts;                // directories that are memfs mount roots
  std::map<std::string, std::string> states;   // RAM file path -> state
  std::map<std::string, Status> state_errors;  // RamFileState fails for these paths
  std::set<std::string> arrivals;              // VM directories with an arrival pending
  std::vector<std::string> calls;

  Status CheckMount(const std::string& dir) override {
    calls.push_back("check_mount " + dir);
    if (mounts.count(dir) != 0) return Status::Ok();
    return Status::FailedPrecondition("memory_backing.dir " + dir +
                                      " is not a mounted mkd-memfs: start mkd-memfs there first");
  }
  Result<std::optional<std::string>> RamFileState(const std::string& path) override {
    calls.push_back("state " + path);
    if (auto e = state_errors.find(path); e != state_errors.end()) return e->second;
    auto it = states.find(path);
    if (it == states.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Result<bool> ArrivalPending(const std::string& dir) override {
    calls.push_back("arrival " + dir);
    return arrivals.count(dir) != 0;
  }
};

struct EnsureCall {
  std::string path;
  bool parents = false;
  std::optional<DirectoryOwner> owner;
  bool operator==(const EnsureCall&) const = default;
};

class FakeDirectories final : public Directories {
 public:
  std::vector<EnsureCall> calls;
  std::map<std::string, Status> errors;  // Ensure fails for these paths

  Status Ensure(const std::string& path, bool parents,
                const std::optional<DirectoryOwner>& owner) override {
    calls.push_back({path, parents, owner});
    auto e = errors.find(path);
    return e == errors.end() ? Status::Ok() : e->second;
  }
};

}  // namespace mkd::libvirt::testing

#endif  // MKD_LIBVIRT_HOOK_FAKES_H_
