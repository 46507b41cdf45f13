// Progress bar or plain lines on stderr (see progress.h).
#include "migrate-tool/progress.h"

#include <fmt/format.h>

#include <cstdio>

#include "genstore/generation.h"

namespace mkd::migrate {

void ProgressPrinter::Show(const Progress& p) {
  const double rate = p.seconds > 0 ? static_cast<double>(p.wire_bytes) / p.seconds / 1e6 : 0;
  const double frac = p.total_pages > 0
                          ? static_cast<double>(p.done_pages) / static_cast<double>(p.total_pages)
                          : 0;
  const double left_mb = static_cast<double>((p.total_pages - p.done_pages) * kPageSize) / 1e6;
  const double eta = rate > 0 ? left_mb / rate : 0;
  if (tty_) {
    const int width = 30;
    const int filled = static_cast<int>(frac * width);
    std::string bar = std::string(static_cast<size_t>(filled), '#') +
                      std::string(static_cast<size_t>(width - filled), '-');
    std::fprintf(stderr, "\r%-12s [%s] %5.1f%% %7.1f MB/s ETA %4.1f s   ", p.phase.c_str(),
                 bar.c_str(), frac * 100, rate, eta);
    std::fflush(stderr);
    drawn_ = true;
    phase_ = p.phase;
    return;
  }
  const bool new_phase = p.phase != phase_;
  if (!new_phase && p.seconds - last_line_ < 2 && p.done_pages != p.total_pages) return;
  if (!new_phase && p.done_pages == p.total_pages && p.seconds - last_line_ < 0.001) return;
  std::fprintf(stderr, "mkd-migrate: %.2f s %s: %llu/%llu pages, %.1f MB on the wire, %.1f MB/s\n",
               p.seconds, p.phase.c_str(), static_cast<unsigned long long>(p.done_pages),
               static_cast<unsigned long long>(p.total_pages),
               static_cast<double>(p.wire_bytes) / 1e6, rate);
  phase_ = p.phase;
  last_line_ = p.seconds;
}

void ProgressPrinter::Done() {
  if (tty_ && drawn_) std::fprintf(stderr, "\n");
}

}  // namespace mkd::migrate
