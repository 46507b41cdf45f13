// Text and JSON forms of a plan (see plan_report.h).
#include "migrate-tool/plan_report.h"

#include <fmt/format.h>

namespace mkd::migrate {

std::string FormatPlan(const Plan& p) {
  std::string s = fmt::format("plan for VM {} ({} pages, epoch {}), at {:.1f} MB/s{}\n", p.vm_name,
                              p.pages, p.epoch, p.link_bytes_per_second / 1e6,
                              p.link_given ? "" : " (assumed: give --bandwidth)");
  for (const HostPlan& h : p.hosts) {
    if (!h.error.empty()) {
      s += fmt::format("  {}: no plan: {}\n", h.host, h.error);
      continue;
    }
    const double written = static_cast<double>(p.pages - h.never_written);
    const uint64_t reused = h.reusable + h.by_content;
    s += fmt::format(
        "  {}: sends {:.1f} MB ({:.2f} s at that rate); reuses {} of the {} written pages ({:.1f} "
        "%: {} by generation, {} by content of {} offered), sends {} ({} of them zero pages)\n"
        "      {}\n",
        h.host, static_cast<double>(h.bytes) / 1e6, h.seconds, reused, p.pages - h.never_written,
        written > 0 ? 100.0 * static_cast<double>(reused) / written : 0.0, h.reusable, h.by_content,
        h.offered, h.send_content + h.send_zero, h.send_zero, h.base);
    if (!h.content_stopped.empty())
      s += "      a migration would stop offering by content: " + h.content_stopped + "\n";
  }
  s += "  (pages the guest writes from now on come on top)\n";
  return s;
}

nlohmann::json PlanToJson(const Plan& p) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const HostPlan& h : p.hosts) {
    if (!h.error.empty()) {
      hosts.push_back({{"host", h.host}, {"ok", false}, {"error", h.error}});
      continue;
    }
    hosts.push_back({{"host", h.host},
                     {"ok", true},
                     {"base", h.base},
                     {"pages",
                      {{"reusable", h.reusable},
                       {"never_written", h.never_written},
                       {"zero_fill", h.zero_fill},
                       {"offered", h.offered},
                       {"by_content", h.by_content},
                       {"send_content", h.send_content},
                       {"send_zero", h.send_zero}}},
                     {"frames", h.frames},
                     {"content_bytes", h.content_bytes},
                     {"offer_bytes", h.offer_bytes},
                     {"content_stopped", h.content_stopped},
                     {"table_bytes", h.table_bytes},
                     {"bytes", h.bytes},
                     {"link_seconds", h.seconds}});
  }
  return {{"vm", p.vm.ToString()},
          {"name", p.vm_name},
          {"epoch", p.epoch},
          {"pages", p.pages},
          {"link_bytes_per_second", p.link_bytes_per_second},
          {"link_given", p.link_given},
          {"device_state_estimate_bytes", kDeviceStateEstimateBytes},
          {"hosts", hosts}};
}

}  // namespace mkd::migrate
