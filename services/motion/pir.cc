#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "kernel/core/job.hpp"
#include "services/motion/pir.hpp"

namespace camera_trap::motion {
namespace {

// One decimal number at the front of `s` (at most `max`), consuming it and the spaces after it.
std::optional<std::uint64_t> take_number(std::string_view& s, std::uint64_t max) {
  std::size_t i = 0;
  std::uint64_t v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    const std::uint64_t digit = static_cast<std::uint64_t>(s[i] - '0');
    if (v > (max - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
    ++i;
  }
  if (i == 0) return std::nullopt;
  while (i < s.size() && s[i] == ' ') ++i;
  s.remove_prefix(i);
  return v;
}

}  // namespace

std::optional<PirRecord> parse_record(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  const auto sensor = take_number(line, 0xff);
  const auto sequence = sensor ? take_number(line, (std::uint64_t{1} << 48) - 1) : std::nullopt;
  const auto scene = sequence ? take_number(line, 0xffff) : std::nullopt;
  if (!scene || !line.empty()) return std::nullopt;
  return PirRecord{static_cast<std::uint8_t>(*sensor), *sequence, static_cast<std::uint16_t>(*scene)};
}

}  // namespace camera_trap::motion

namespace camera_trap::motion::detail {

// Bytes from the sensor input become lines, lines become queued records; a coroutine waiting
// in next_record() is woken by the first record queued after it looked. Fixed sizes, no heap.
class PirInput {
 public:
  static constexpr std::size_t kLineBytes = 48;
  static constexpr std::size_t kQueued = 16;

  void feed(std::string_view bytes) {
    for (char c : bytes) {
      if (c == '\n') {
        end_line();
      } else if (length_ < kLineBytes) {
        line_[length_++] = c;
      } else {
        overlong_ = true;
      }
    }
  }

  std::optional<PirRecord> pop() {
    if (count_ == 0) return std::nullopt;
    const PirRecord r = queue_[head_];
    head_ = (head_ + 1) % kQueued;
    --count_;
    return r;
  }

  // Arms the wake-up for the next record (call before pop() finds the queue empty).
  void arm(::ambience::Job<void>* job) { waiter_ = job; }
  std::uint32_t bad() const { return bad_; }

 private:
  void end_line() {
    const std::optional<PirRecord> r =
        overlong_ ? std::nullopt : parse_record(std::string_view(line_, length_));
    length_ = 0;
    overlong_ = false;
    // A full queue drops the trigger (a PIR fires again while something moves): counted.
    if (!r || count_ == kQueued) {
      ++bad_;
      return;
    }
    queue_[(head_ + count_) % kQueued] = *r;
    ++count_;
    if (waiter_ != nullptr) {
      ::ambience::Job<void>* w = waiter_;
      waiter_ = nullptr;
      w->complete();
    }
  }

  char line_[kLineBytes] = {};
  std::size_t length_ = 0;
  bool overlong_ = false;
  PirRecord queue_[kQueued] = {};
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::uint32_t bad_ = 0;
  ::ambience::Job<void>* waiter_ = nullptr;
};

PirInput& input() {
  static PirInput in;
  return in;
}

}  // namespace camera_trap::motion::detail

namespace camera_trap::motion {

::ambience::Task<PirRecord> next_record() {
  detail::PirInput& in = detail::input();
  for (;;) {
    ::ambience::Job<void> arrived;
    in.arm(&arrived);
    if (std::optional<PirRecord> r = in.pop()) {
      in.arm(nullptr);
      co_return *r;
    }
    co_await arrived;
  }
}

std::uint32_t bad_records() { return detail::input().bad(); }

void push_bytes(std::string_view bytes) { detail::input().feed(bytes); }

void push_line(std::string_view line) {
  detail::input().feed(line);
  detail::input().feed("\n");
}

}  // namespace camera_trap::motion
