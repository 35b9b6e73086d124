#include "kernel/net/call_table.hpp"

namespace ambience::net {

Result<CallTable::Started> CallTable::start(std::uint16_t destination, bool idempotent, const CallPolicy& policy,
                                            std::uint64_t now_us, void* context) {
  for (Call& c : calls_) {
    if (c.in_flight) continue;
    const std::uint32_t counter = next_counter_++;
    if (next_counter_ == 0) next_counter_ = 1;  // counter 0 would make call id 0 possible
    c = Call{};
    c.in_flight = true;
    c.idempotent = idempotent;
    c.attempts = 1;
    c.max_attempts = idempotent ? std::max<std::uint8_t>(policy.max_attempts, 1) : 1;
    c.destination = destination;
    c.call_id = std::uint64_t{incarnation_} << 32 | counter;
    c.deadline_us = now_us + policy.timeout_us;
    c.retry_us = policy.first_retry_us;
    c.max_retry_us = std::max(policy.max_retry_us, policy.first_retry_us);
    c.next_send_us = now_us + policy.first_retry_us;
    c.context = context;
    ++counters_.started;
    return Started{slot_of(c), c.call_id};
  }
  ++counters_.refused;
  return Status::would_block;
}

std::optional<CallTable::Finished> CallTable::on_reply(std::uint64_t call_id, std::uint16_t from, Status status,
                                                       std::uint64_t now_us) {
  for (Call& c : calls_) {
    if (!c.in_flight || c.call_id != call_id) continue;
    if (c.destination != from) break;
    if (status == Status::would_block && c.idempotent && c.attempts < c.max_attempts && now_us < c.deadline_us) {
      // The server refused for back-pressure: keep the call and let poll() re-send after the
      // back-off step (not at once: the server is busy).
      ++counters_.busy_retries;
      c.next_send_us = now_us + c.retry_us;
      return std::nullopt;
    }
    return finish(c, status);
  }
  ++counters_.unmatched;
  return std::nullopt;
}

void CallTable::cancel(int slot) {
  if (slot < 0 || static_cast<std::size_t>(slot) >= calls_.size()) return;
  Call& c = calls_[static_cast<std::size_t>(slot)];
  if (c.in_flight) finish(c, Status::cancelled);
}

std::uint64_t CallTable::next_wakeup_us() const {
  std::uint64_t t = ~std::uint64_t{0};
  for (const Call& c : calls_) {
    if (!c.in_flight) continue;
    t = std::min(t, c.deadline_us);
    if (c.idempotent && c.attempts < c.max_attempts) t = std::min(t, c.next_send_us);
  }
  return t;
}

std::size_t CallTable::in_flight() const {
  std::size_t n = 0;
  for (const Call& c : calls_) n += c.in_flight;
  return n;
}

}  // namespace ambience::net
