// The client side of cross-node RPC as plain data: call id allocation, a deadline on every call,
// re-sends with exponential back-off for idempotent procedures only, and every way a call can
// end delivered as a Status — a call in the table always ends, at its deadline at the latest.
//
// The table does no I/O and keeps no request bytes: the caller keeps an idempotent request
// until its call finishes and sends it again when told (on_resend). Time is passed in.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "kernel/core/status.hpp"

namespace ambience::net {

enum class NetworkKind : std::uint8_t { udp, serial };

struct CallPolicy {
  std::uint64_t timeout_us = 0;      // the whole call: Status::timeout at start + timeout_us
  std::uint64_t first_retry_us = 0;  // idempotent: re-send after this long without a reply ...
  std::uint64_t max_retry_us = 0;    // ... doubling per attempt up to this
  std::uint8_t max_attempts = 1;     // idempotent: sends in all (1: never re-send)
};

// Defaults per network kind; a dependency in the manifest may override the deadline (the plan
// writes the resulting policy per edge). UDP: LAN round trips are milliseconds, loss is bursty.
// Serial: 115200 baud moves ~11 KiB/s, so a 4 KiB request alone takes ~0.4 s.
constexpr CallPolicy default_policy(NetworkKind kind) {
  return kind == NetworkKind::udp ? CallPolicy{2'000'000, 200'000, 1'000'000, 4}
                                  : CallPolicy{5'000'000, 1'000'000, 2'000'000, 3};
}

struct CallTableCounters {
  std::uint32_t started = 0;
  std::uint32_t refused = 0;       // table full: would_block (back-pressure, nothing queued)
  std::uint32_t finished = 0;      // by a reply, an error, a timeout or a failed destination
  std::uint32_t timeouts = 0;
  std::uint32_t resends = 0;
  std::uint32_t busy_retries = 0;  // the server answered would_block; an idempotent call waits and re-sends
  std::uint32_t unmatched = 0;     // reply for no call in flight (late, duplicate, wrong node)
};

class CallTable {
 public:
  struct Call {
    bool in_flight = false;
    bool idempotent = false;
    std::uint8_t attempts = 0;
    std::uint8_t max_attempts = 1;
    std::uint16_t destination = 0;
    std::uint64_t call_id = 0;
    std::uint64_t deadline_us = 0;
    std::uint64_t next_send_us = 0;  // idempotent: when the next re-send is due
    std::uint64_t retry_us = 0;      // the current back-off step
    std::uint64_t max_retry_us = 0;
    void* context = nullptr;         // the caller's (e.g. the awaiting coroutine)
  };
  struct Started {
    int slot;
    std::uint64_t call_id;
  };
  struct Finished {
    int slot;
    std::uint64_t call_id;
    void* context;
    Status status;
  };

  // incarnation: differs between boots of this node (a boot counter, or random); it is the high
  // half of every call id, so a server never confuses a call with one from before a restart.
  CallTable(std::span<Call> calls, std::uint32_t incarnation) : calls_(calls), incarnation_(incarnation) {}
  CallTable(const CallTable&) = delete;
  CallTable& operator=(const CallTable&) = delete;

  // A new call; the caller sends its first attempt now. would_block when every slot is in flight.
  Result<Started> start(std::uint16_t destination, bool idempotent, const CallPolicy& policy, std::uint64_t now_us,
                        void* context = nullptr);

  // A reply (status ok) or error envelope for call_id from node `from`. Returns the finished call,
  // or nothing: unmatched (counted), or would_block on an idempotent call that will re-send.
  std::optional<Finished> on_reply(std::uint64_t call_id, std::uint16_t from, Status status, std::uint64_t now_us);

  // Time passed: calls past their deadline finish with timeout (on_finished(const Finished&));
  // idempotent calls due for a re-send get on_resend(slot, call_id, context).
  template <class OnFinished, class OnResend>
  void poll(std::uint64_t now_us, OnFinished&& on_finished, OnResend&& on_resend) {
    for (Call& c : calls_) {
      if (!c.in_flight) continue;
      if (now_us >= c.deadline_us) {
        ++counters_.timeouts;
        on_finished(finish(c, Status::timeout));
      } else if (c.idempotent && c.attempts < c.max_attempts && now_us >= c.next_send_us) {
        resend(c, now_us);
        on_resend(slot_of(c), c.call_id, c.context);
      }
    }
  }

  // The destination is gone (no route: unavailable) or restarted (peer_restarted). Calls to it
  // finish with `status`; idempotent calls with attempts and time left are re-sent at once
  // instead when the peer restarted (their request may simply have been lost in the restart).
  // `spare_call_id`: a call the restarted peer has just answered it never ran (an authenticated
  // resync error): its outcome is known, the caller re-sends it itself.
  template <class OnFinished, class OnResend>
  void destination_failed(std::uint16_t node, Status status, std::uint64_t now_us, OnFinished&& on_finished,
                          OnResend&& on_resend, std::uint64_t spare_call_id = 0) {
    for (Call& c : calls_) {
      if (!c.in_flight || c.destination != node) continue;
      if (spare_call_id != 0 && c.call_id == spare_call_id) continue;
      if (status == Status::peer_restarted && c.idempotent && c.attempts < c.max_attempts && now_us < c.deadline_us) {
        resend(c, now_us);
        on_resend(slot_of(c), c.call_id, c.context);
      } else {
        on_finished(finish(c, status));
      }
    }
  }

  // The caller gave up (its own cancellation): the slot is free, a late reply is unmatched.
  void cancel(int slot);

  // From now on the call is not re-sent (by poll(), a peer restart or a busy answer): a call
  // started re-sendable while its request was only a probe, whose body has now gone out once.
  void send_no_more(int slot) {
    if (slot < 0 || static_cast<std::size_t>(slot) >= calls_.size()) return;
    Call& c = calls_[static_cast<std::size_t>(slot)];
    c.idempotent = false;
    c.max_attempts = c.attempts;
  }

  // The earliest time poll() has something to do (a deadline or a re-send); ~0 when idle. What
  // the node arms its timer with.
  std::uint64_t next_wakeup_us() const;

  std::size_t in_flight() const;
  const CallTableCounters& counters() const { return counters_; }
  const Call& call(int slot) const { return calls_[static_cast<std::size_t>(slot)]; }

 private:
  Finished finish(Call& c, Status status) {
    c.in_flight = false;
    ++counters_.finished;
    return Finished{slot_of(c), c.call_id, c.context, status};
  }
  void resend(Call& c, std::uint64_t now_us) {
    ++c.attempts;
    ++counters_.resends;
    c.retry_us = std::min(c.retry_us * 2, c.max_retry_us);
    c.next_send_us = now_us + c.retry_us;
  }
  int slot_of(const Call& c) const { return static_cast<int>(&c - calls_.data()); }

  std::span<Call> calls_;
  std::uint32_t incarnation_;
  std::uint32_t next_counter_ = 1;
  CallTableCounters counters_;
};

template <std::size_t Calls>
class StaticCallTable : private std::array<CallTable::Call, Calls>, public CallTable {
  using Storage = std::array<CallTable::Call, Calls>;

 public:
  explicit StaticCallTable(std::uint32_t incarnation)
      : Storage{}, CallTable(static_cast<Storage&>(*this), incarnation) {}
};

}  // namespace ambience::net
