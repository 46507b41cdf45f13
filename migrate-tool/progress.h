// ProgressPrinter: shows migration progress on stderr: a bar with rate and ETA redrawn in place
// on a terminal, one plain line per phase (and every few seconds) otherwise.
#ifndef MKD_MIGRATE_TOOL_PROGRESS_H_
#define MKD_MIGRATE_TOOL_PROGRESS_H_

#include <string>

#include "migrate-tool/source.h"

namespace mkd::migrate {

class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool tty) : tty_(tty) {}
  void Show(const Progress& p);
  void Done();

 private:
  bool tty_;
  std::string phase_;
  double last_line_ = -10;
  bool drawn_ = false;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_PROGRESS_H_
