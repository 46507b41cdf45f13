// guest_util.cc: see guest_util.h.
#include "guest_util.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mkdguest {
namespace {

const char* g_program = "mkd-guest";

void WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // The console went away; nothing sensible is left to do with the line.
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

namespace {

// Writes "<prefix><formatted text>\n" to fd in one write (lines are at most 1 KiB).
void WriteLine(int fd, const char* prefix, const char* format, va_list args) {
  char line[1024];
  int head = snprintf(line, sizeof(line), "%s", prefix);
  int n = vsnprintf(line + head, sizeof(line) - static_cast<size_t>(head) - 1, format, args);
  size_t length = static_cast<size_t>(head) + (n < 0 ? 0 : static_cast<size_t>(n));
  if (length > sizeof(line) - 2) length = sizeof(line) - 2;
  line[length++] = '\n';
  WriteAll(fd, line, length);
}

}  // namespace

void Emit(const char* format, ...) {
  va_list args;
  va_start(args, format);
  WriteLine(STDOUT_FILENO, "MKD ", format, args);
  va_end(args);
}

void Die(const char* format, ...) {
  char prefix[128];
  snprintf(prefix, sizeof(prefix), "%s: ", g_program);
  va_list args;
  va_start(args, format);
  WriteLine(STDERR_FILENO, prefix, format, args);
  va_end(args);
  exit(2);
}

double MonotonicSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void SleepUntil(double deadline) {
  if (deadline <= MonotonicSeconds()) return;
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(deadline);
  ts.tv_nsec = static_cast<long>((deadline - static_cast<double>(ts.tv_sec)) * 1e9);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

void IdleForever() {
  for (;;) pause();
}

bool WaitForInputLine() {
  char c = 0;
  for (;;) {
    ssize_t n = read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (c == '\n' || c == '\r') return true;
  }
}

uint8_t* MapMemory(uint64_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                 -1, 0);
  if (p == MAP_FAILED) {
    Die("cannot map %llu bytes: %s", static_cast<unsigned long long>(bytes), strerror(errno));
  }
  return static_cast<uint8_t*>(p);
}

ArgParser::ArgParser(const char* program, int argc, char** argv) {
  g_program = program;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) Die("unexpected argument '%s' (options start with --)", argv[i]);
    Option option;
    size_t eq = arg.find('=');
    if (eq != std::string::npos) {  // --name=value
      option.name = arg.substr(0, eq);
      option.value = arg.substr(eq + 1);
      option.has_value = true;
    } else {
      option.name = arg;
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        option.value = argv[++i];
        option.has_value = true;
      }
    }
    options_.push_back(option);
  }
}

ArgParser::Option* ArgParser::Find(const char* name) {
  Option* found = nullptr;
  for (Option& option : options_) {
    if (option.name == name) {
      option.used = true;
      found = &option;  // The last occurrence wins, as in most command-line tools.
    }
  }
  return found;
}

uint64_t ArgParser::Uint(const char* name, uint64_t fallback, uint64_t max) {
  Option* option = Find(name);
  if (option == nullptr) return fallback;
  if (!option->has_value) Die("%s needs a value", name);
  const std::string& text = option->value;
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    Die("%s wants a non-negative integer, got '%s'", name, text.c_str());
  }
  errno = 0;
  unsigned long long value = strtoull(text.c_str(), nullptr, 10);
  if (errno != 0 || value > max) {
    Die("%s is %s, the limit is %llu", name, text.c_str(), static_cast<unsigned long long>(max));
  }
  return value;
}

std::string ArgParser::String(const char* name, const std::string& fallback) {
  Option* option = Find(name);
  if (option == nullptr) return fallback;
  if (!option->has_value) Die("%s needs a value", name);
  return option->value;
}

bool ArgParser::Flag(const char* name) {
  Option* option = Find(name);
  if (option == nullptr) return false;
  if (option->has_value) Die("%s takes no value (got '%s')", name, option->value.c_str());
  return true;
}

void ArgParser::Finish() {
  for (const Option& option : options_) {
    if (!option.used) Die("unknown option %s", option.name.c_str());
  }
}

}  // namespace mkdguest
