// Fuzz target for ParseVmDefinition (qemu-config/vm_definition.h): a VM definition file is read
// from disk and may hold anything. No input may crash the parser or make the JSON library throw;
// a refusal is kInvalidArgument with a message; an accepted definition satisfies the rules the
// command line builder relies on (absolute, comma-free paths; sizes in range; a boot source).
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/check.h"
#include "qemu-config/vm_definition.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

bool PathOk(const std::string& p) {
  return p.empty() || (p.front() == '/' && p.find(',') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mkd::Result<mkd::qemuconfig::VmDefinition> vm =
      mkd::qemuconfig::ParseVmDefinition(mkd::fuzz::AsBytes(data, size));
  if (!vm.ok()) {
    MKD_CHECK(vm.status().code() == mkd::ErrorCode::kInvalidArgument);
    MKD_CHECK(!vm.status().message().empty());
    return 0;
  }
  MKD_CHECK(vm->memory_mib >= 16 && vm->memory_mib <= (uint64_t{1} << 20));
  MKD_CHECK(vm->vcpus >= 1 && vm->vcpus <= 64);
  MKD_CHECK(vm->kernel.empty() != vm->disk.empty());
  MKD_CHECK(PathOk(vm->kernel) && PathOk(vm->initrd) && PathOk(vm->disk));
  MKD_CHECK(!vm->memory_dir.empty() && PathOk(vm->memory_dir));
  MKD_CHECK(!vm->run_dir.empty() && PathOk(vm->run_dir));
  MKD_CHECK(!vm->name.empty() && vm->name.find(',') == std::string::npos);
  return 0;
}
