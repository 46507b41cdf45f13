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
    s += fmt::format(
        "  {}: sends {:.1f} MB ({:.2f} s at that rate); reuses {} of the {} written pages ({:.1f} "
        "%), "
        "sends {} ({} of them zero pages)\n      {}\n",
        h.host, static_cast<double>(h.bytes) / 1e6, h.seconds, h.reusable,
        p.pages - h.never_written,
        written > 0 ? 100.0 * static_cast<double>(h.reusable) / written : 0.0,
        h.send_content + h.send_zero, h.send_zero, h.base);
  }
  s += "  (reuse by generation only; pages the guest writes from now on come on top)\n";
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
                       {"send_content", h.send_content},
                       {"send_zero", h.send_zero}}},
                     {"frames", h.frames},
                     {"content_bytes", h.content_bytes},
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
