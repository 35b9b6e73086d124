// Status codes shared by the kernel, IPC, RPC and generated code, and Result<T>: a value or a
// Status, for code built without exceptions.
#pragma once

#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace ambience {

enum class Status : std::uint8_t {
  ok = 0,
  timeout,          // a deadline passed first
  peer_restarted,   // the callee's group restarted while the call was in flight
  no_memory,        // a bounded pool (frames, ring elements, arena) is exhausted
  bad_message,      // a message failed validation
  access_denied,    // no capability for this call
  unavailable,      // nothing serves the target (dead node, no route)
  would_block,      // a ring is full and the caller asked not to wait
  cancelled,        // the operation was cancelled
  schema_mismatch,  // the peer was built from another version of the interface
  not_found,        // unknown procedure, instance or name
  internal,         // a bug: an invariant did not hold
};

constexpr const char* to_string(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::timeout: return "timeout";
    case Status::peer_restarted: return "peer_restarted";
    case Status::no_memory: return "no_memory";
    case Status::bad_message: return "bad_message";
    case Status::access_denied: return "access_denied";
    case Status::unavailable: return "unavailable";
    case Status::would_block: return "would_block";
    case Status::cancelled: return "cancelled";
    case Status::schema_mismatch: return "schema_mismatch";
    case Status::not_found: return "not_found";
    case Status::internal: return "internal";
  }
  return "unknown";
}

// A T or an error Status. T must be movable; no exceptions are used anywhere.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : status_(Status::ok) { new (&storage_) T(std::move(value)); }
  Result(Status error) : status_(error == Status::ok ? Status::internal : error) {}
  Result(const Result& other) : status_(other.status_) {
    if (ok()) new (&storage_) T(other.value());
  }
  Result(Result&& other) noexcept : status_(other.status_) {
    if (ok()) new (&storage_) T(std::move(other.value()));
  }
  Result& operator=(Result other) noexcept {
    reset();
    status_ = other.status_;
    if (ok()) new (&storage_) T(std::move(other.value()));
    return *this;
  }
  ~Result() { reset(); }

  bool ok() const { return status_ == Status::ok; }
  explicit operator bool() const { return ok(); }
  Status status() const { return status_; }
  T& value() { return *std::launder(reinterpret_cast<T*>(&storage_)); }
  const T& value() const { return *std::launder(reinterpret_cast<const T*>(&storage_)); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }

 private:
  void reset() {
    if (ok()) value().~T();
    status_ = Status::internal;
  }
  alignas(T) unsigned char storage_[sizeof(T)];
  Status status_;
};

template <class T>
struct is_result : std::false_type {};
template <class T>
struct is_result<Result<T>> : std::true_type {};

// Ends the program with a message: for broken invariants only, never for bad input.
[[noreturn]] void fatal(const char* message);

}  // namespace ambience
