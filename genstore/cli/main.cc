// mkd-genstore: command-line entry point; parses arguments and dispatches to commands.h.
#include <CLI/CLI.hpp>

#include "genstore/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "mkd-genstore: inspect and demonstrate miyakodori's generation store.\n"
      "Generation tables record, per 4 KiB page of a VM's RAM, the epoch in which the VM last\n"
      "wrote it; a host that holds an older copy of the VM reuses every page whose generation\n"
      "still matches. See docs/formats.md and docs/architecture.md."};
  app.require_subcommand(1);

  mkd::cli::DemoOptions demo;
  CLI::App* demo_cmd = app.add_subcommand(
      "demo",
      "Simulate a VM going host-a -> host-b -> host-a with real generation tables and "
      "per-host RocksDB stores, and print what each hop sends and reuses");
  demo_cmd->add_option("--pages", demo.pages, "VM size in 4 KiB pages (262144 = 1 GiB)")
      ->check(CLI::Range(uint64_t{64}, uint64_t{1} << 28));
  demo_cmd->add_option("--boot-percent", demo.boot_percent, "% of pages written on host-a")
      ->check(CLI::Range(0.0, 100.0));
  demo_cmd->add_option("--dirty-percent", demo.dirty_percent, "% of pages written on host-b")
      ->check(CLI::Range(0.0, 100.0));
  demo_cmd->add_option("--seed", demo.seed, "random seed of the simulated guest");
  demo_cmd->add_option("--work-dir", demo.work_dir,
                       "keep the two stores in this directory instead of a temporary one");

  std::string db_dir;
  std::optional<std::string> vm;
  bool json = false;
  CLI::App* list_cmd =
      app.add_subcommand("list",
                         "List the incarnations in a host's store (read-only; safe "
                         "while mkd-memfs runs)");
  list_cmd->add_option("--db", db_dir, "the host's store directory (mkd-memfs --db)")->required();
  list_cmd->add_option("--vm", vm, "only this VM (UUID)");
  list_cmd->add_flag("--json", json, "one JSON document per line");

  std::vector<std::string> files;
  CLI::App* decode_cmd = app.add_subcommand(
      "decode",
      "Check and summarise an encoded generation table, page bitmap or page digests, or the chunks "
      "of one (given in order: FILE.0 FILE.1 ...)");
  decode_cmd->add_option("files", files, "encoded file, or its chunks in order")->required();
  bool decode_json = false;
  decode_cmd->add_flag("--json", decode_json,
                       "print one JSON document with the header and every run (for scripts)");

  CLI11_PARSE(app, argc, argv);
  if (*demo_cmd) return mkd::cli::RunDemo(demo);
  if (*list_cmd) return mkd::cli::RunList(db_dir, vm, json);
  return mkd::cli::RunDecode(files, decode_json);
}
