// Named fault points for tests (see fault_points.h).
#include "migrate-tool/fault_points.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <set>
#include <string>

namespace mkd::migrate {

#ifdef MKD_FAULT_POINTS
Status FaultPoint(std::string_view name) {
  static std::mutex mu;
  static std::set<std::string> fired;
  const char* env = std::getenv("MKD_FAULT_POINTS");
  if (env == nullptr) return Status::Ok();
  std::string_view spec(env);
  while (!spec.empty()) {
    const size_t end = spec.find(';');
    std::string_view item = spec.substr(0, end);
    spec = end == std::string_view::npos ? std::string_view() : spec.substr(end + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || item.substr(0, eq) != name) continue;
    {
      std::lock_guard lock(mu);
      if (!fired.insert(std::string(name)).second) return Status::Ok();
    }
    std::string_view action = item.substr(eq + 1);
    spdlog::warn("fault point {}: {}", name, action);
    if (action == "exit") {
      spdlog::default_logger()->flush();
      ::_exit(137);
    }
    if (action == "error") return Status::Io("injected fault at " + std::string(name));
    if (action.substr(0, 5) == "exec:") {
      const int rc = std::system(std::string(action.substr(5)).c_str());
      spdlog::warn("fault point {}: command exited with {}", name, rc);
      return Status::Ok();
    }
    return Status::InvalidArgument("MKD_FAULT_POINTS: unknown action \"" + std::string(action) +
                                   "\" for " + std::string(name) + " (exit, error or exec:CMD)");
  }
  return Status::Ok();
}
#else
Status FaultPoint(std::string_view) { return Status::Ok(); }
#endif

}  // namespace mkd::migrate
