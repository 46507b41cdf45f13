// VmDefinition parsing: nlohmann without exceptions, then one check per field.
#include "qemu-config/vm_definition.h"

#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace mkd::qemuconfig {
namespace {

using Json = nlohmann::json;

Status Bad(const std::string& field, const std::string& why) {
  return Status::InvalidArgument("VM definition: '" + field + "' " + why);
}

Status OnlyKnownFields(const Json& obj, const std::string& where,
                       const std::set<std::string>& known) {
  for (const auto& [key, value] : obj.items()) {
    if (!known.count(key)) {
      return Status::InvalidArgument("VM definition: unknown field '" + where + key +
                                     "' (see docs/qemu-config.md for the fields)");
    }
  }
  return Status::Ok();
}

// Reads an optional string field; `required` makes absence an error.
Status GetString(const Json& obj, const std::string& where, const char* key, bool required,
                 std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return required ? Bad(where + key, "is required") : Status::Ok();
  if (!it->is_string()) return Bad(where + key, "must be a string");
  *out = it->get<std::string>();
  if (out->find('\0') != std::string::npos) return Bad(where + key, "contains a NUL byte");
  return Status::Ok();
}

Status GetUnsigned(const Json& obj, const char* key, uint64_t min, uint64_t max, bool required,
                   uint64_t* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return required ? Bad(key, "is required") : Status::Ok();
  if (!it->is_number_unsigned()) return Bad(key, "must be a non-negative integer");
  uint64_t v = it->get<uint64_t>();
  if (v < min || v > max) {
    return Bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  *out = v;
  return Status::Ok();
}

Status CheckAbsolutePath(const std::string& field, const std::string& path) {
  if (path.empty()) return Status::Ok();
  if (path.front() != '/') return Bad(field, "must be an absolute path, got '" + path + "'");
  // QEMU option values are comma-separated: a comma in a path would change the option.
  if (path.find(',') != std::string::npos) return Bad(field, "must not contain a comma");
  return Status::Ok();
}

Status ParseBoot(const Json& doc, VmDefinition* vm) {
  auto it = doc.find("boot");
  if (it == doc.end()) return Bad("boot", "is required (kernel or disk)");
  if (!it->is_object()) return Bad("boot", "must be an object");
  MKD_RETURN_IF_ERROR(OnlyKnownFields(*it, "boot.", {"kernel", "initrd", "append", "disk"}));
  MKD_RETURN_IF_ERROR(GetString(*it, "boot.", "kernel", false, &vm->kernel));
  MKD_RETURN_IF_ERROR(GetString(*it, "boot.", "initrd", false, &vm->initrd));
  MKD_RETURN_IF_ERROR(GetString(*it, "boot.", "append", false, &vm->append));
  MKD_RETURN_IF_ERROR(GetString(*it, "boot.", "disk", false, &vm->disk));
  if (vm->kernel.empty() == vm->disk.empty()) {
    return Bad("boot", "needs exactly one of 'kernel' and 'disk'");
  }
  if (!vm->disk.empty() && (!vm->initrd.empty() || !vm->append.empty())) {
    return Bad("boot", "'initrd' and 'append' go with 'kernel', not with 'disk'");
  }
  MKD_RETURN_IF_ERROR(CheckAbsolutePath("boot.kernel", vm->kernel));
  MKD_RETURN_IF_ERROR(CheckAbsolutePath("boot.initrd", vm->initrd));
  MKD_RETURN_IF_ERROR(CheckAbsolutePath("boot.disk", vm->disk));
  return Status::Ok();
}

Status ParseMemoryBacking(const Json& doc, VmDefinition* vm) {
  auto it = doc.find("memory_backing");
  if (it == doc.end()) return Bad("memory_backing", "is required ({\"type\", \"dir\"})");
  if (!it->is_object()) return Bad("memory_backing", "must be an object");
  MKD_RETURN_IF_ERROR(OnlyKnownFields(*it, "memory_backing.", {"type", "dir"}));
  std::string type;
  MKD_RETURN_IF_ERROR(GetString(*it, "memory_backing.", "type", true, &type));
  if (type == "memfs") {
    vm->backing = MemoryBacking::kMemfs;
  } else if (type == "tmpfs") {
    vm->backing = MemoryBacking::kTmpfs;
  } else {
    return Bad("memory_backing.type", "must be \"memfs\" or \"tmpfs\", got \"" + type + "\"");
  }
  MKD_RETURN_IF_ERROR(GetString(*it, "memory_backing.", "dir", true, &vm->memory_dir));
  if (vm->memory_dir.empty()) return Bad("memory_backing.dir", "must not be empty");
  return CheckAbsolutePath("memory_backing.dir", vm->memory_dir);
}

bool IsMac(const std::string& mac) {
  if (mac.size() != 17) return false;
  for (size_t i = 0; i < mac.size(); ++i) {
    bool ok = i % 3 == 2 ? mac[i] == ':' : std::isxdigit(static_cast<unsigned char>(mac[i])) != 0;
    if (!ok) return false;
  }
  return true;
}

Status ParseNetwork(const Json& doc, VmDefinition* vm) {
  auto it = doc.find("network");
  if (it == doc.end()) return Status::Ok();
  if (!it->is_object()) return Bad("network", "must be an object");
  MKD_RETURN_IF_ERROR(OnlyKnownFields(*it, "network.", {"type", "ifname", "mac"}));
  std::string type;
  MKD_RETURN_IF_ERROR(GetString(*it, "network.", "type", true, &type));
  MKD_RETURN_IF_ERROR(GetString(*it, "network.", "ifname", false, &vm->tap_ifname));
  MKD_RETURN_IF_ERROR(GetString(*it, "network.", "mac", false, &vm->mac));
  if (type == "none") {
    vm->network = NetworkType::kNone;
  } else if (type == "user") {
    vm->network = NetworkType::kUser;
  } else if (type == "tap") {
    vm->network = NetworkType::kTap;
    if (vm->tap_ifname.empty() || vm->tap_ifname.size() > 15 ||
        vm->tap_ifname.find_first_of(",/ ") != std::string::npos) {
      return Bad("network.ifname", "must name a tap interface (1-15 characters)");
    }
  } else {
    return Bad("network.type", "must be \"none\", \"user\" or \"tap\", got \"" + type + "\"");
  }
  if (!vm->mac.empty() && !IsMac(vm->mac))
    return Bad("network.mac", "must look like 52:54:00:12:34:56");
  return Status::Ok();
}

}  // namespace

std::string_view MemoryBackingName(MemoryBacking backing) {
  return backing == MemoryBacking::kMemfs ? "memfs" : "tmpfs";
}

std::string_view ManagerName(VmManager manager) {
  return manager == VmManager::kLibvirt ? "libvirt" : "mkd-vm";
}

Result<VmDefinition> ParseVmDefinition(std::string_view json) {
  if (json.size() > kMaxDefinitionSize) return Bad("(file)", "is larger than 64 KiB");
  Json doc = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("VM definition: not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("VM definition: must be a JSON object");
  MKD_RETURN_IF_ERROR(OnlyKnownFields(doc, "",
                                      {"uuid", "name", "memory_mib", "vcpus", "machine", "boot",
                                       "memory_backing", "network", "run_dir", "extra_args",
                                       "manager"}));
  VmDefinition vm;
  std::string uuid;
  MKD_RETURN_IF_ERROR(GetString(doc, "", "uuid", true, &uuid));
  Result<Uuid> parsed = Uuid::Parse(uuid);
  if (!parsed.ok()) return Bad("uuid", parsed.status().message());
  vm.uuid = *parsed;
  MKD_RETURN_IF_ERROR(GetString(doc, "", "name", false, &vm.name));
  if (vm.name.empty()) vm.name = uuid;
  if (vm.name.size() > 64 || vm.name.find_first_of(",= ") != std::string::npos) {
    return Bad("name", "must be at most 64 characters without ',', '=' or spaces");
  }
  MKD_RETURN_IF_ERROR(GetUnsigned(doc, "memory_mib", 16, uint64_t{1} << 20, true, &vm.memory_mib));
  uint64_t vcpus = 1;
  MKD_RETURN_IF_ERROR(GetUnsigned(doc, "vcpus", 1, 64, false, &vcpus));
  vm.vcpus = static_cast<uint32_t>(vcpus);
  MKD_RETURN_IF_ERROR(GetString(doc, "", "machine", false, &vm.machine));
  if (vm.machine.empty() || vm.machine.find_first_of(", ") != std::string::npos) {
    return Bad("machine", "must be a QEMU machine type such as \"pc\" or \"q35\"");
  }
  MKD_RETURN_IF_ERROR(ParseBoot(doc, &vm));
  MKD_RETURN_IF_ERROR(ParseMemoryBacking(doc, &vm));
  MKD_RETURN_IF_ERROR(ParseNetwork(doc, &vm));
  MKD_RETURN_IF_ERROR(GetString(doc, "", "run_dir", false, &vm.run_dir));
  MKD_RETURN_IF_ERROR(CheckAbsolutePath("run_dir", vm.run_dir));
  if (vm.run_dir.empty()) return Bad("run_dir", "must not be empty");
  if (auto it = doc.find("extra_args"); it != doc.end()) {
    if (!it->is_array()) return Bad("extra_args", "must be an array of strings");
    for (const Json& a : *it) {
      if (!a.is_string()) return Bad("extra_args", "must be an array of strings");
      vm.extra_args.push_back(a.get<std::string>());
    }
  }
  std::string manager = "mkd-vm";
  MKD_RETURN_IF_ERROR(GetString(doc, "", "manager", false, &manager));
  if (manager == "libvirt") {
    vm.manager = VmManager::kLibvirt;
  } else if (manager != "mkd-vm") {
    return Bad("manager", "must be \"mkd-vm\" or \"libvirt\"");
  }
  return vm;
}

Result<VmDefinition> LoadVmDefinition(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read VM definition " + path);
  std::ostringstream text;
  text << in.rdbuf();
  Result<VmDefinition> vm = ParseVmDefinition(text.str());
  if (!vm.ok()) return vm.status().WithContext(path);
  return vm;
}

}  // namespace mkd::qemuconfig
