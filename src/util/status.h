// Status and Result: how every layer reports failure.
//
// A Status is either OK or an error carrying an errno-style code (it becomes
// the NBD error on the wire), a retryable bit (a retry layer may try again)
// and a message for the operator. Layers never throw; they return these.
#ifndef USBD_UTIL_STATUS_H_
#define USBD_UTIL_STATUS_H_

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace usbd {

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status Ok() { return Status(); }
  static Status Error(int code, std::string message, bool retryable = false) {
    return Status(code, std::move(message), retryable);
  }
  static Status IoError(std::string message, bool retryable = false) {
    return Error(EIO, std::move(message), retryable);
  }
  static Status Invalid(std::string message) {
    return Error(EINVAL, std::move(message));
  }
  // Bytes read back from a store failed their integrity check (checksum,
  // authentication, format): EBADMSG, so it is not taken for an I/O error
  // of the device below, and retryable, since corruption in transit cannot
  // be told from corruption at rest. EIO on the NBD wire.
  static Status Corrupt(std::string message) {
    return Error(EBADMSG, std::move(message), /*retryable=*/true);
  }
  bool corrupt() const { return code_ == EBADMSG; }
  // A raw read or partial write reached a block that holds an encoded
  // (compressed or encrypted) object: not bytes to serve or patch in place.
  // The codec layer decodes the object instead; nothing else uses it as a
  // signal. EMEDIUMTYPE, so it is never taken for an I/O error of the
  // device below; EIO on the NBD wire.
  static Status NotABlock(std::string message) {
    return Error(EMEDIUMTYPE, std::move(message));
  }
  bool not_a_block() const { return code_ == EMEDIUMTYPE; }

  bool ok() const { return code_ == 0; }
  int code() const { return code_; }
  bool retryable() const { return retryable_; }
  const std::string& message() const { return message_; }

  // "message (strerror)", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "context: message" (code and
  // retryable bit kept).
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_, retryable_);
  }

 private:
  Status(int code, std::string message, bool retryable)
      : code_(code == 0 ? EIO : code),
        retryable_(retryable),
        message_(std::move(message)) {}

  int code_ = 0;
  bool retryable_ = false;
  std::string message_;
};

// Status from the current errno of a failed system call.
Status ErrnoStatus(const std::string& what, int err = errno);

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  Status status() const {
    if (ok()) return Status::Ok();
    return std::get<Status>(v_);
  }

 private:
  std::variant<T, Status> v_;
};

}  // namespace usbd

// Return early from the enclosing function when a Status is an error.
#define USBD_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::usbd::Status usbd_status_ = (expr);        \
    if (!usbd_status_.ok()) return usbd_status_; \
  } while (0)

#endif  // USBD_UTIL_STATUS_H_
