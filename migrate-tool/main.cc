// mkd-migrate: migrates a running VM to another host (`mkd-migrate VM --to HOST`), reusing the
// memory the VM left there before; `mkd-migrate serve` is the destination side, run on every
// host. docs/migrate.md is the operator's guide.
#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "migrate-tool/plan.h"
#include "migrate-tool/plan_report.h"
#include "migrate-tool/progress.h"
#include "migrate-tool/report.h"
#include "migrate-tool/serve.h"
#include "migrate-tool/source.h"
#include "qemu-config/vm_definition.h"

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

std::string DefaultHostId() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

mkd::peer::TlsConfig TlsFiles(const std::string& dir, const std::string& host_id) {
  return {dir + "/ca.crt", dir + "/" + host_id + ".crt", dir + "/" + host_id + ".key"};
}

// "125M" -> 125,000,000 bytes/s; suffixes k, M, G (powers of 1000), optional "B/s".
bool ParseRate(std::string text, uint64_t* out) {
  if (text.ends_with("B/s")) text.resize(text.size() - 3);
  double mult = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k':
      case 'K':
        mult = 1e3;
        text.pop_back();
        break;
      case 'M':
        mult = 1e6;
        text.pop_back();
        break;
      case 'G':
        mult = 1e9;
        text.pop_back();
        break;
      default:
        break;
    }
  }
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used != text.size() || v < 0) return false;
    *out = static_cast<uint64_t>(v * mult);
    return true;
  } catch (...) {
    return false;
  }
}

// VM: a definition file, or the UUID or name of a definition in vm_dir.
std::string FindDefinition(const std::string& vm, const std::string& vm_dir) {
  if (vm.find('/') != std::string::npos || vm.ends_with(".json")) return vm;
  const std::string by_uuid = vm_dir + "/" + vm + ".json";
  if (std::filesystem::exists(by_uuid)) return by_uuid;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(vm_dir, ec)) {
    if (entry.path().extension() != ".json") continue;
    auto def = mkd::qemuconfig::LoadVmDefinition(entry.path().string());
    if (def.ok() && def->name == vm) return entry.path().string();
  }
  return by_uuid;  // the error names the file that was expected
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "mkd-migrate: live-migrate a VM whose RAM is on mkd-memfs to another host; pages the "
      "destination still holds from an earlier stay are not sent again.\n"
      "  mkd-migrate VM --to HOST [options]   (run on the host the VM runs on)\n"
      "  mkd-migrate serve [options]          (run on every host: receives VMs)\n"
      "  mkd-migrate VM --to HOST --postcopy  (resume there at once, pages follow)\n"
      "  mkd-migrate plan VM --to HOST...     (what a migration to each host would send)\n"
      "  mkd-migrate recover VM               (after mkd-migrate died: resume the VM here)\n"
      "See docs/migrate.md."};
  app.require_subcommand(0, 1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();

  mkd::migrate::SourceOptions so;
  std::string vm, vm_dir = "/etc/miyakodori/vms", tls_dir = "/etc/miyakodori/tls",
                  host_id = DefaultHostId(), bandwidth;
  int64_t downtime_ms = 300;
  double timeout_s = 30;
  bool no_reuse = false, json = false;
  app.add_option("vm", vm, "the VM: its definition file, or its UUID or name in --vm-dir");
  app.add_option("--to", so.to_host, "destination host id (the CN of its certificate)");
  app.add_option("--address", so.address,
                 "where the destination's `mkd-migrate serve` listens: HOST[:PORT] (default: "
                 "the host id, port 7420)");
  app.add_option("--vm-dir", vm_dir, "directory of VM definitions (<uuid>.json)")
      ->capture_default_str();
  app.add_option("--tls-dir", tls_dir,
                 "this host's TLS files: ca.crt, <host-id>.crt, <host-id>.key (scripts/mkd-ca)")
      ->capture_default_str();
  app.add_option("--host-id", host_id, "this host's id (default: the hostname)");
  app.add_option("--downtime", downtime_ms, "downtime budget in ms for the last round")
      ->capture_default_str()
      ->check(CLI::Range(1, 600000));
  app.add_option("--max-rounds", so.max_rounds, "rounds of sync-and-send before the switchover")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  bool no_auto_converge = false;
  app.add_flag("--no-auto-converge", no_auto_converge,
               "never slow the guest down: a guest that dirties memory faster than the link "
               "carries it then switches over with a longer downtime");
  app.add_option("--throttle-initial", so.throttle.initial_percent,
                 "auto-converge: percent of the vCPUs' time taken away at the first rise")
      ->capture_default_str();
  app.add_option("--throttle-step", so.throttle.step_percent,
                 "auto-converge: the least percent added at each further rise (each also halves "
                 "the time the vCPUs keep)")
      ->capture_default_str();
  app.add_option("--max-throttle", so.throttle.max_percent,
                 "auto-converge: the most of the vCPUs' time ever taken away (percent)")
      ->capture_default_str();
  app.add_option("--bandwidth", bandwidth,
                 "cap on what is sent, bytes/s: 125M, 1G (default: none)");
  std::string compress = "auto";
  app.add_option("--compress", compress,
                 "zstd for frames of pages: auto (while it saves more link time than it costs "
                 "CPU), always, never")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_flag("--no-reuse", no_reuse,
               "send every written page (the baseline: same path, no reuse)");
  bool no_content_reuse = false;
  app.add_flag("--no-content-reuse", no_content_reuse,
               "send pages the destination could take from a page with the same content it holds "
               "(another VM's, an older incarnation's) instead of offering them by digest");
  app.add_flag("--verify", so.verify,
               "compare XXH3 digests of every page on both ends at the switchover; resume the "
               "VM here on any mismatch");
  app.add_flag("--postcopy", so.postcopy,
               "post-copy: resume the VM at the destination at once; the pages it lacks follow "
               "(fetched when the VM reads them, pushed otherwise). If the source or the link "
               "dies before every page arrived, the VM is lost (docs/postcopy.md)");
  app.add_option("--precopy-rounds", so.precopy_rounds,
                 "with --postcopy: pre-copy first (a full pass and up to N rounds), then the "
                 "post-copy switchover")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  app.add_option("--postcopy-window", so.postcopy_window,
                 "with --postcopy: pages sent with each page the destination waits for")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--libvirt", so.libvirt_uri,
                 "a libvirt domain (its definition says \"manager\": \"libvirt\"): the "
                 "destination's libvirt URI (default qemu+tls://ADDRESS/system; docs/libvirt.md)");
  app.add_option("--libvirt-connect", so.libvirt_connect, "this host's libvirt URI")
      ->capture_default_str();
  app.add_flag("--json", json, "print the report as JSON on stdout");
  app.add_option("--timeout", timeout_s, "seconds any network or QEMU step may take")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));

  mkd::migrate::ServeOptions sv;
  CLI::App* serve = app.add_subcommand("serve", "receive migrations (run on every host)");
  serve->add_option("--listen", sv.listen, "address to listen on")->capture_default_str();
  serve->add_option("--vm-dir", vm_dir, "definitions of the VMs this host may receive")
      ->capture_default_str();
  serve->add_option("--tls-dir", tls_dir, "this host's TLS files")->capture_default_str();
  serve->add_option("--host-id", host_id, "this host's id (default: the hostname)");
  serve->add_option("--accel", sv.accel, "accelerator for QEMU: auto, kvm, tcg")
      ->capture_default_str();
  serve->add_option("--accel-cache", sv.accel_cache, "where the accelerator probe is cached")
      ->capture_default_str();
  serve->add_option("--timeout", timeout_s, "seconds any network or QEMU step may take")
      ->capture_default_str();
  // Limits against peers (docs/migrate.md, "Limits").
  double handshake_timeout_s = 10;
  serve
      ->add_option("--max-sessions", sv.max_sessions,
                   "connections served at once (each may hold a thread, a frame buffer and a "
                   "starting QEMU); one more is closed at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  serve
      ->add_option("--max-frame-bytes", sv.max_frame_bytes,
                   "largest frame payload read from a peer (the memory one connection may make "
                   "this host allocate); the default is the largest frame a source sends, a "
                   "full PAGES frame")
      ->capture_default_str()
      ->check(CLI::Range(uint32_t{1024}, mkd::migrate::kMaxFramePayload));
  serve
      ->add_option("--receive-buffer", sv.receive_buffer_bytes,
                   "bytes of kernel receive buffer per migration's connection, so pages keep "
                   "coming while this host starts the VM's QEMU (needs CAP_NET_ADMIN); 0: the "
                   "kernel's autotuning")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 30));
  serve
      ->add_option("--content-index-pages", sv.content_index_pages,
                   "reuse by content: pages of a memfs mount indexed by digest at most (16 bytes "
                   "of memory each, at most two indexes per mount); 0: no reuse by content, "
                   "every page offered is asked for")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 32));
  std::string content_scope = "vm";
  serve
      ->add_option("--content-scope", content_scope,
                   "reuse by content: whose pages an arriving VM may take, its own (its earlier "
                   "incarnations here) or every VM's on this host (then the source host learns "
                   "which contents this host holds: only where VMs may know that of each other)")
      ->capture_default_str()
      ->check(CLI::IsMember({"vm", "host"}));
  int64_t content_index_refresh_s = 0;
  serve
      ->add_option("--content-index-refresh", content_index_refresh_s,
                   "with --content-scope host: rebuild the index of every memfs mount the VM "
                   "definitions name this often (seconds) in the background, so arrivals never "
                   "wait for a build (below 30 s); it costs a read of the live VMs' memory each "
                   "time. 0: build it when an arrival needs it")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{3600}));
  serve
      ->add_option("--handshake-timeout", handshake_timeout_s,
                   "seconds a new connection has for its TLS handshake and first frame")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 600.0));

  std::string recover_vm;
  CLI::App* recover = app.add_subcommand(
      "recover", "after mkd-migrate died: cancel QEMU's migration and resume the VM here");
  recover->add_option("vm", recover_vm, "the VM (definition file, UUID or name)")->required();
  recover->add_option("--vm-dir", vm_dir, "directory of VM definitions")->capture_default_str();
  bool force = false;
  recover->add_flag("--force", force,
                    "resume the VM here even though QEMU completed the migration (only after "
                    "checking that the destination does not run it)");

  std::string plan_vm;
  std::vector<std::string> plan_to, plan_addresses;
  CLI::App* plan = app.add_subcommand(
      "plan",
      "how much of the VM each candidate host could reuse, and what a migration there "
      "would send and take (docs/placement.md)");
  plan->add_option("vm", plan_vm, "the VM (definition file, UUID or name)")->required();
  plan->add_option("--to", plan_to, "a candidate host id (repeat for more hosts)")
      ->required()
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  plan->add_option("--address", plan_addresses,
                   "HOST=ADDRESS[:PORT]: where that host's serve listens (default: the host id, "
                   "port 7420; repeat per host)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  plan->add_option("--vm-dir", vm_dir, "directory of VM definitions")->capture_default_str();
  plan->add_option("--tls-dir", tls_dir, "this host's TLS files")->capture_default_str();
  plan->add_option("--host-id", host_id, "this host's id (default: the hostname)");
  plan->add_option("--bandwidth", bandwidth,
                   "link rate to estimate the time with, bytes/s: 125M, 1G (default: 100M)");
  std::string plan_compress = "auto";
  plan->add_option("--compress", plan_compress,
                   "the --compress of the migration to plan for: auto, always, never")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "always", "never"}));
  bool plan_no_content = false;
  plan->add_flag("--no-content-reuse", plan_no_content,
                 "plan for a migration with --no-content-reuse: ask the hosts nothing by content");
  plan->add_flag("--json", json, "print the plan as JSON on stdout");
  plan->add_option("--timeout", timeout_s, "seconds each host may take to answer")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));

  CLI11_PARSE(app, argc, argv);
  auto logger = spdlog::stderr_color_mt("mkd-migrate");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));

  if (serve->parsed()) {
    sv.vm_dir = vm_dir;
    sv.tls = TlsFiles(tls_dir, host_id);
    sv.timeout = timeout;
    sv.content_scope = content_scope == "host" ? mkd::migrate::ContentScope::kHost
                                               : mkd::migrate::ContentScope::kVm;
    sv.content_index_refresh = std::chrono::seconds(content_index_refresh_s);
    sv.handshake_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(handshake_timeout_s * 1000));
    // Connection threads come and go: without a cap glibc gives each new thread its own malloc
    // arena (64 MiB of address space each, up to 8 per core) that stays after the thread ends.
    // Four are plenty for threads that mostly wait on sockets.
    ::mallopt(M_ARENA_MAX, 4);
    std::signal(SIGTERM, OnSignal);
    std::signal(SIGINT, OnSignal);
    std::signal(SIGPIPE, SIG_IGN);
    mkd::Status s = mkd::migrate::RunServe(sv, g_stop);
    if (!s.ok()) {
      spdlog::error("{}", s.ToString());
      return 1;
    }
    return 0;
  }
  if (recover->parsed()) {
    std::string what;
    mkd::Status s =
        mkd::migrate::Recover(FindDefinition(recover_vm, vm_dir), timeout, force, &what);
    if (!s.ok()) {
      spdlog::error("{}", s.ToString());
      return 1;
    }
    std::cout << "mkd-migrate recover: " << what << "\n";
    return 0;
  }
  if (plan->parsed()) {
    mkd::migrate::PlanOptions po;
    po.definition = FindDefinition(plan_vm, vm_dir);
    po.host_id = host_id;
    po.tls = TlsFiles(tls_dir, host_id);
    po.timeout = timeout;
    po.compress = *mkd::migrate::ParseCompressMode(plan_compress);  // checked by CLI11 above
    po.content_reuse = !plan_no_content;
    if (!bandwidth.empty() && !ParseRate(bandwidth, &po.bandwidth)) {
      std::cerr << "mkd-migrate plan: --bandwidth " << bandwidth
                << ": use e.g. 125M or 1G (bytes/s)\n";
      return 2;
    }
    for (const std::string& h : plan_to) po.to.push_back({h, ""});
    for (const std::string& a : plan_addresses) {
      const size_t eq = a.find('=');
      auto it = std::find_if(po.to.begin(), po.to.end(), [&](const mkd::migrate::PlanTarget& t) {
        return eq != std::string::npos && t.host == a.substr(0, eq);
      });
      if (eq == std::string::npos || eq + 1 == a.size() || it == po.to.end()) {
        std::cerr << "mkd-migrate plan: --address " << a
                  << ": give HOST=ADDRESS for a host named with --to\n";
        return 2;
      }
      it->address = a.substr(eq + 1);
    }
    std::signal(SIGPIPE, SIG_IGN);
    mkd::Result<mkd::migrate::Plan> p = mkd::migrate::RunPlan(po);
    if (!p.ok()) {
      spdlog::error("{}", p.status().ToString());
      return 1;
    }
    if (json) {
      std::cout << mkd::migrate::PlanToJson(*p).dump(2) << "\n";
    } else {
      std::cout << mkd::migrate::FormatPlan(*p);
    }
    return 0;
  }
  if (vm.empty() || so.to_host.empty()) {
    std::cerr << "mkd-migrate: give the VM and --to HOST (see --help)\n";
    return 2;
  }
  if (!bandwidth.empty() && !ParseRate(bandwidth, &so.bandwidth)) {
    std::cerr << "mkd-migrate: --bandwidth " << bandwidth << ": use e.g. 125M or 1G (bytes/s)\n";
    return 2;
  }
  if (!so.postcopy && (app.count("--precopy-rounds") > 0 || app.count("--postcopy-window") > 0)) {
    std::cerr << "mkd-migrate: --precopy-rounds and --postcopy-window go with --postcopy\n";
    return 2;
  }
  if (mkd::Status t = mkd::migrate::CheckThrottleOptions(so.throttle); !t.ok()) {
    std::cerr << "mkd-migrate: " << t.message() << "\n";
    return 2;
  }
  so.auto_converge = !no_auto_converge;
  so.compress = *mkd::migrate::ParseCompressMode(compress);  // checked by CLI11 above
  std::signal(SIGPIPE, SIG_IGN);
  so.definition = FindDefinition(vm, vm_dir);
  so.host_id = host_id;
  so.tls = TlsFiles(tls_dir, host_id);
  so.downtime = std::chrono::milliseconds(downtime_ms);
  so.reuse = !no_reuse;
  so.content_reuse = !no_content_reuse;
  so.timeout = timeout;
  mkd::migrate::ProgressPrinter printer(::isatty(STDERR_FILENO) != 0);
  mkd::migrate::MigrationReport report;
  mkd::Status s = mkd::migrate::RunSource(
      so, &report, [&](const mkd::migrate::Progress& p) { printer.Show(p); });
  printer.Done();
  if (json) {
    std::cout << mkd::migrate::ToJson(report).dump(2) << "\n";
  } else {
    std::cout << mkd::migrate::FormatReport(report);
  }
  if (!s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  return 0;
}
