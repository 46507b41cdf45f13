// The subcommands of mkd-genstore, the operator's view of genstore: a demonstration of the
// generation rules, listing a host's stored incarnations, and decoding tables, bitmaps, page
// digests and chunks (e.g. saved with `getfattr --only-values`). Each returns a process exit code
// and prints errors to stderr in words an operator can act on.
#ifndef MKD_GENSTORE_CLI_COMMANDS_H_
#define MKD_GENSTORE_CLI_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mkd::cli {

struct DemoOptions {
  uint64_t pages = 262144;   // 1 GiB VM
  double boot_percent = 60;  // pages written on the first host
  double dirty_percent = 5;  // pages written while away
  uint64_t seed = 1;
  std::string work_dir;  // empty: a fresh temporary directory, removed afterwards
};
int RunDemo(const DemoOptions& options);

int RunList(const std::string& db_dir, const std::optional<std::string>& vm, bool json);

// json: {"kind":"table"|"bitmap"|"digests","vm","block","epoch","pages", and "runs":
// [[first,count,generation],...] for a table (consecutive pages of one generation),
// [[first,count],...] for a bitmap's set pages, "zero_pages" for digests}.
int RunDecode(const std::vector<std::string>& files, bool json);

}  // namespace mkd::cli

#endif  // MKD_GENSTORE_CLI_COMMANDS_H_
