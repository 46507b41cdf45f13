// Status and Result<T>: the error values every miyakodori module returns across its boundary.
//
// A Status is either OK or an error code with a message written for the operator: what happened
// and, where it is known, what to do about it. Result<T> holds a T or a non-OK Status.
// Both are cheap to move, [[nodiscard]], and never throw. Thread-compatible (like std::string).
#ifndef MKD_BASE_STATUS_H_
#define MKD_BASE_STATUS_H_

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mkd {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,     // the caller passed something that can never work
  kCorrupt,             // stored or received bytes fail a check (length, magic, checksum, ...)
  kNotFound,            // the named thing does not exist
  kFailedPrecondition,  // the operation is not allowed in the current state
  kOutOfRange,          // an index or size beyond a limit
  kUnsupported,         // a format version or feature this build does not know
  kIo,                  // the operating system or RocksDB reported an error
  kPermissionDenied,    // the caller may not do this (docs/security.md)
};

// The name of a code, for messages and logs ("corrupt", "not found", ...).
std::string_view ErrorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string m) {
    return {ErrorCode::kInvalidArgument, std::move(m)};
  }
  static Status Corrupt(std::string m) { return {ErrorCode::kCorrupt, std::move(m)}; }
  static Status NotFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {ErrorCode::kFailedPrecondition, std::move(m)};
  }
  static Status OutOfRange(std::string m) { return {ErrorCode::kOutOfRange, std::move(m)}; }
  static Status Unsupported(std::string m) { return {ErrorCode::kUnsupported, std::move(m)}; }
  static Status Io(std::string m) { return {ErrorCode::kIo, std::move(m)}; }
  static Status PermissionDenied(std::string m) {
    return {ErrorCode::kPermissionDenied, std::move(m)};
  }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "corrupt: table checksum mismatch ..." or "ok".
  std::string ToString() const;

  // The same error with "context: " in front of the message, for callers that add where it
  // happened.
  Status WithContext(std::string_view context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// Holds either a value or an error Status (never an OK Status).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) {
      v_ = Status(ErrorCode::kInvalidArgument, "internal error: Result built from an OK status");
    }
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error; Status::Ok() when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  // Access to the value; calling these on an error is a programming error
  // (std::bad_variant_access).
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace mkd

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define MKD_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::mkd::Status mkd_status_ = (expr);        \
    if (!mkd_status_.ok()) return mkd_status_; \
  } while (false)

// Evaluates `rexpr` (a Result<T>); on error returns its Status from the enclosing function,
// otherwise moves the value into `lhs`, which may be a declaration:
//   MKD_ASSIGN_OR_RETURN(PageBitmap pages, ram.Sync());
//   MKD_ASSIGN_OR_RETURN(summary_, ram_->Summary());
// Expands to more than one statement: do not use it as the body of an unbraced if or loop.
#define MKD_ASSIGN_OR_RETURN(lhs, rexpr) \
  MKD_ASSIGN_OR_RETURN_IMPL_(MKD_STATUS_CONCAT_(mkd_result_, __LINE__), lhs, rexpr)
#define MKD_ASSIGN_OR_RETURN_IMPL_(result, lhs, rexpr) \
  auto result = (rexpr);                               \
  if (!result.ok()) return result.status();            \
  lhs = std::move(result).value()
#define MKD_STATUS_CONCAT_(a, b) MKD_STATUS_CONCAT_INNER_(a, b)
#define MKD_STATUS_CONCAT_INNER_(a, b) a##b

#endif  // MKD_BASE_STATUS_H_
