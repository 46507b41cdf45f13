// Text and JSON forms of the migration report (see report.h).
#include "migrate-tool/report.h"

#include <fmt/format.h>

namespace mkd::migrate {

nlohmann::json ToJson(const MigrationReport& r) {
  nlohmann::json rounds = nlohmann::json::array();
  for (const RoundStat& s : r.rounds) {
    rounds.push_back({{"round", s.round},
                      {"pages", s.pages},
                      {"bytes", s.bytes},
                      {"seconds", s.seconds},
                      {"throttle_percent", s.throttle_percent},
                      {"forecast_downtime_ms", s.forecast_downtime_ms},
                      {"forecast_pages", s.forecast_pages},
                      {"cut_interval_seconds", s.cut_interval_seconds},
                      {"held_pages", s.held_pages}});
  }
  nlohmann::json out = {
      {"vm", r.vm},
      {"from", r.from_host},
      {"to", r.to_host},
      {"reuse", r.reuse},
      {"verified", r.verified},
      {"converged", r.converged},
      {"pages",
       {{"total", r.pages_total},
        {"sent", r.pages_sent},
        {"zero", r.pages_zero},
        {"reused", r.pages_reused},
        {"content", r.pages_content},
        {"transfers", r.page_transfers},
        {"zero_transfers", r.zero_transfers}}},
      {"bytes",
       {{"wire", r.wire_bytes},
        {"pages", r.page_bytes},
        {"control_sent", r.control_bytes_sent},
        {"control_received", r.control_bytes_received},
        {"qemu_stream", r.qemu_stream_bytes}}},
      {"rounds", rounds},
      {"total_seconds", r.total_seconds},
      {"setup_seconds", r.setup_seconds},
      {"retire_seconds", r.retire_seconds},
      {"downtime_ms",
       {{"ours", r.downtime_ours_ms},
        {"qemu", r.downtime_qemu_ms},
        {"until_running", r.downtime_until_running_ms}}},
      {"epochs", {{"source", r.source_epoch}, {"destination", r.destination_epoch}}},
      {"outcome", r.outcome},
      {"mode", r.mode}};
  out["throttle"] = {{"enabled", r.throttle.enabled},
                     {"max_percent", r.throttle.max_percent},
                     {"steps", r.throttle.steps},
                     {"seconds", r.throttle.seconds},
                     {"throttled_seconds", r.throttle.throttled_seconds},
                     {"error", r.throttle.error}};
  const CompressionReport& z = r.compression;
  out["compression"] = {{"mode", z.mode},
                        {"frames_tried", z.frames_tried},
                        {"frames_compressed", z.frames_compressed},
                        {"raw_bytes", z.raw_bytes},
                        {"compressed_bytes", z.compressed_bytes},
                        {"seconds", z.seconds}};
  const ContentReport& c = r.content;
  out["content"] = {{"enabled", c.enabled},
                    {"offers", c.offers},
                    {"offered", c.offered},
                    {"taken", c.taken},
                    {"needed", c.needed},
                    {"offer_bytes", c.offer_bytes},
                    {"digest_seconds", c.digest_seconds},
                    {"stopped", c.stopped}};
  const PipeTimes& p = r.pipe;
  out["pipe"] = {{"prepare", p.prepare},
                 {"handshake", p.handshake},
                 {"ready", p.ready},
                 {"sync", p.sync},
                 {"sync_total", p.sync_total},
                 {"classify", p.classify},
                 {"read", p.read},
                 {"send", p.send},
                 {"switchover", p.switchover},
                 {"verify", p.verify},
                 {"commit", p.commit},
                 {"finish", p.finish},
                 {"first_page", p.first_page},
                 {"content_wait", p.content_wait}};
  if (p.link) {
    out["pipe"]["link"] = {{"busy", p.link->busy},
                           {"receiver_limited", p.link->receiver_limited},
                           {"sender_limited", p.link->sender_limited}};
  }
  if (p.destination) {
    out["pipe"]["destination"] = {{"frames", p.destination->frames},
                                  {"writes", p.destination->writes},
                                  {"wait", p.destination->wait_seconds},
                                  {"write", p.destination->write_seconds}};
  }
  if (r.mode == "postcopy") {
    out["postcopy"] = {
        {"missing", r.postcopy_missing},        {"fetched", r.postcopy_fetched},
        {"pushed", r.postcopy_pushed},          {"faults", r.postcopy_faults},
        {"fault_median_ms", r.fault_median_ms}, {"fault_p99_ms", r.fault_p99_ms},
        {"fault_max_ms", r.fault_max_ms},       {"complete_seconds", r.postcopy_complete_seconds},
        {"verify_skipped", r.verify_skipped}};
  }
  return out;
}

std::string FormatReport(const MigrationReport& r) {
  const double mb = 1e6;
  std::string s = fmt::format("migration of VM {} from {} to {}: {}\n", r.vm, r.from_host,
                              r.to_host, r.outcome);
  s += fmt::format("  pages        {} total = {} sent + {} reused + {} by content + {} zero{}\n",
                   r.pages_total, r.pages_sent, r.pages_reused, r.pages_content, r.pages_zero,
                   r.reuse ? "" : " (reuse off)");
  if (r.content.offered > 0) {
    s += fmt::format(
        "  content      {} of {} pages offered by digest were taken from pages {} held ({} "
        "asked for), {:.2f} MB of offers, {:.2f} s digesting{}{}\n",
        r.content.taken, r.content.offered, r.to_host, r.content.needed,
        static_cast<double>(r.content.offer_bytes) / mb, r.content.digest_seconds,
        r.content.stopped.empty() ? "" : "; stopped: ", r.content.stopped);
  }
  s += fmt::format(
      "  on the wire  {:.1f} MB ({} page transfers, {:.1f} MB of pages, {:.2f} MB "
      "QEMU device state, {:.2f} MB tables and framing)\n",
      static_cast<double>(r.wire_bytes) / mb, r.page_transfers,
      static_cast<double>(r.page_bytes) / mb, static_cast<double>(r.qemu_stream_bytes) / mb,
      static_cast<double>(r.wire_bytes - r.page_bytes - r.qemu_stream_bytes) / mb);
  s += fmt::format(
      "  rounds       {} ({}){}\n", r.rounds.size(),
      [&] {
        std::string list;
        for (const RoundStat& x : r.rounds) {
          if (!list.empty()) list += ", ";
          list += fmt::format("{} pages", x.pages);
        }
        return list;
      }(),
      [&] {
        if (!r.converged) return std::string("; did not fit the downtime budget");
        // The rounds stopped on the forecast of the last one (stop_rule.h): next to the pause.
        for (auto x = r.rounds.rbegin(); x != r.rounds.rend(); ++x) {
          if (x->forecast_downtime_ms > 0)
            return fmt::format("; pause forecast {:.0f} ms", x->forecast_downtime_ms);
        }
        return std::string();
      }());
  s += fmt::format(
      "  time         {:.2f} s total ({:.2f} s preparing the destination), downtime {:.0f} ms "
      "(ours {:.0f} ms, until it ran there {:.0f} ms){}\n",
      r.total_seconds, r.setup_seconds, r.downtime_qemu_ms, r.downtime_ours_ms,
      r.downtime_until_running_ms, r.verified ? ", verified" : "");
  if (r.compression.frames_tried > 0) {
    const CompressionReport& z = r.compression;
    s += fmt::format(
        "  compression  {} of {} frames tried went compressed: {:.1f} MB as {:.1f} MB ({:.2f}x), "
        "{:.2f} s of CPU\n",
        z.frames_compressed, z.frames_tried, static_cast<double>(z.raw_bytes) / 1e6,
        static_cast<double>(z.compressed_bytes) / 1e6,
        z.compressed_bytes > 0
            ? static_cast<double>(z.raw_bytes) / static_cast<double>(z.compressed_bytes)
            : 1.0,
        z.seconds);
  }
  if (r.throttle.max_percent > 0) {
    s += fmt::format(
        "  throttle     the guest's vCPUs got up to {} % less CPU time for {:.2f} s ({} steps; "
        "held back {:.2f} s in all) so that pre-copy converged\n",
        r.throttle.max_percent, r.throttle.seconds, r.throttle.steps,
        r.throttle.throttled_seconds);
  }
  if (!r.throttle.error.empty()) {
    s += fmt::format("  throttle     not applied: {}\n", r.throttle.error);
  }
  const PipeTimes& p = r.pipe;
  s += fmt::format(
      "  time went to prepare {:.2f} s, handshake {:.2f} s, sync {:.2f} s ({:.2f} s with the "
      "overlapped part), classify {:.2f} s, "
      "read {:.2f} s, send {:.2f} s, QEMU switchover {:.2f} s, verify {:.2f} s, commit {:.2f} "
      "s, finish {:.2f} s; first page after {:.2f} s; waited {:.2f} s for the destination's "
      "QEMU\n",
      p.prepare, p.handshake, p.sync, p.sync_total, p.classify, p.read, p.send, p.switchover,
      p.verify, p.commit, p.finish, p.first_page, p.ready);
  if (p.destination) {
    s += fmt::format(
        "  destination  {} frames of pages in {} memfs writes: {:.2f} s writing, {:.2f} s "
        "waiting for frames\n",
        p.destination->frames, p.destination->writes, p.destination->write_seconds,
        p.destination->wait_seconds);
  }
  if (p.link) {
    s += fmt::format(
        "  link         sending {:.2f} s, held back {:.2f} s by the destination's "
        "receive window and {:.2f} s by our send buffer\n",
        p.link->busy, p.link->receiver_limited, p.link->sender_limited);
  }
  if (r.mode == "postcopy") {
    s += fmt::format(
        "  post-copy    {} pages missing at the resume: {} fetched on demand + {} pushed; {} "
        "faults waited {:.2f} ms median, {:.2f} ms p99, {:.2f} ms max; every page there {:.2f} "
        "s after the resume\n",
        r.postcopy_missing, r.postcopy_fetched, r.postcopy_pushed, r.postcopy_faults,
        r.fault_median_ms, r.fault_p99_ms, r.fault_max_ms, r.postcopy_complete_seconds);
  }
  if (r.total_seconds > 0) {
    s += fmt::format("  throughput   {:.1f} MB/s\n",
                     static_cast<double>(r.wire_bytes) / mb / r.total_seconds);
  }
  return s;
}

}  // namespace mkd::migrate
