// IPC rings: how one isolation group and the kernel exchange requests (DESIGN.md "Rings").
//
// Per group there is one shared *region* holding
//   - a pool of fixed-size request elements, split into two partitions: elements the kernel side
//     allocates (for its requests to the group) and elements the group side allocates;
//   - two single-producer/single-consumer index rings: `up` (group -> kernel) and `down`
//     (kernel -> group). A ring entry names an element and says whether it carries a request or
//     the response to one; so both ends can make *and* serve requests;
//   - two doorbells (one per consumer) for batched, lost-wakeup-free sleeping.
//
// An element travels: requester allocates it from its own partition, writes the request, pushes
// {request, i} on its outgoing ring; the server pops it, writes the response into the same
// element, pushes {response, i} on *its* outgoing ring; the requester pops it and frees it.
// Every element is therefore in at most one ring at a time, so a ring (capacity >= elements) can
// never overflow for an honest peer. Back-pressure happens one step earlier: when all elements of
// a side's partition are in flight, acquire() suspends the calling coroutine and resumes it via
// the scheduler when an element is freed (FIFO, the freed element is handed over directly). No
// path spins forever.
//
// Trust: the region is shared with a peer that may be buggy or hostile. Each endpoint keeps its
// own cursors, layout and element states in private memory and never reads back what it
// published. Every index, cursor distance, kind and size read from the shared side is validated;
// a violation marks the endpoint `corrupted()` (the supervisor then reports and restarts the
// peer) and is never undefined behaviour. Shared element contents are copied out before they are
// validated (no time-of-check/time-of-use).
//
// Portable: std::atomic with 32-bit (and byte) operations only, no heap, no OS headers; works on
// Cortex-M4/M7 (LDREX/STREX) and x86_64. The region lives in memory the caller provides (a memfd
// mapping on Linux, an MPU region on a microcontroller). Waking a sleeping consumer is the
// caller's business (futex on Linux, an interrupt/event on an MCU): pass a Notify function.
//
// Threads: acquire()/release() may be called from any thread or interrupt handler. push()/flush()
// (producing) and poll()/prepare_sleep() (consuming) are each called by one thread at a time —
// the side's event loop.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "kernel/core/arch.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/status.hpp"

namespace ambience::ipc {

inline constexpr std::uint32_t kRegionMagic = 0x31524d41;  // "AMR1" little-endian
inline constexpr std::uint32_t kRegionVersion = 1;
inline constexpr std::size_t kCacheLine = 64;

enum class Side : std::uint8_t { kernel = 0, group = 1 };
inline constexpr Side other(Side s) { return s == Side::kernel ? Side::group : Side::kernel; }

enum class EntryKind : std::uint8_t { request = 1, response = 2 };

// The shape of one region; both sides must construct their endpoint with the same config (from
// the plan on an MCU, from the supervisor on Linux). It is never read back from shared memory.
struct RingConfig {
  std::uint32_t kernel_elements = 16;  // partition the kernel side allocates from
  std::uint32_t group_elements = 16;   // partition the group side allocates from
  std::uint32_t payload_bytes = 192;   // inline payload capacity per element (multiple of 8)

  std::uint32_t elements() const { return kernel_elements + group_elements; }
  bool operator==(const RingConfig&) const = default;
};

// A consumer's doorbell: `seq` is the word a sleeping consumer waits on (a futex on Linux),
// `sleeping` tells producers whether a wake-up is needed at all (batched wake-ups).
// `seq` (and the statistics) and `sleeping` sit on separate cache lines: the consumer's own loop
// may bump `seq` often (hosted: it is the loop's wake word), while producers read `sleeping` on
// every flush.
struct alignas(kCacheLine) Doorbell {
  std::atomic<std::uint32_t> seq{0};
  std::atomic<std::uint32_t> rings{0};  // statistics: how many wake-ups were sent
  char pad[kCacheLine - 8];
  std::atomic<std::uint32_t> sleeping{0};
  // Hosted only: the CPU the consumer last ran on (-1 unknown). A peer on the same CPU should
  // not spin waiting for it: the spinner would only keep it from running.
  std::atomic<std::int32_t> cpu{-1};
};
static_assert(sizeof(Doorbell) == 2 * kCacheLine);

// Header of every element in shared memory. The payload follows it.
struct ElementHeader {
  std::uint32_t cookie;   // requester's call id (echoed in the response)
  std::uint32_t target;   // service / instance id, interpreted by the layer above
  std::uint16_t method;   // procedure number
  std::uint8_t status;    // response: ambience::Status
  std::uint8_t flags;     // layer above (e.g. "payload holds arena descriptors")
  std::uint32_t size;     // payload bytes used
  std::uint32_t aux[4];   // layer above (e.g. result buffer descriptor)
};
static_assert(sizeof(ElementHeader) == 32);

// A popped, validated ring entry.
struct Entry {
  EntryKind kind;
  std::uint32_t index;
};

// Sizes and offsets of a region, computed from a RingConfig only.
struct RingLayout {
  std::uint32_t ring_capacity = 0;  // power of two >= elements
  std::uint32_t element_stride = 0;
  std::size_t header_offset = 0;
  std::size_t doorbell_offset[2] = {0, 0};  // [consumer side]
  std::size_t ring_offset[2] = {0, 0};      // [producer side]: up ring is produced by the group
  std::size_t elements_offset = 0;
  std::size_t total_bytes = 0;
  bool valid = false;

  static constexpr std::uint32_t kMaxElements = 1u << 15;

  static constexpr std::size_t align_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

  static constexpr RingLayout of(const RingConfig& c) {
    RingLayout l;
    const std::uint32_t n = c.kernel_elements + c.group_elements;
    if (c.kernel_elements == 0 || c.group_elements == 0 || n > kMaxElements) return l;
    if (c.payload_bytes % 8 != 0 || c.payload_bytes > (1u << 20)) return l;
    std::uint32_t cap = 1;
    while (cap < n) cap <<= 1;
    l.ring_capacity = cap;
    l.element_stride = static_cast<std::uint32_t>(align_up(sizeof(ElementHeader) + c.payload_bytes, kCacheLine));
    std::size_t off = 0;
    l.header_offset = off;
    off += kCacheLine;
    l.doorbell_offset[0] = off;
    off += sizeof(Doorbell);
    l.doorbell_offset[1] = off;
    off += sizeof(Doorbell);
    for (int side = 0; side < 2; ++side) {
      l.ring_offset[side] = off;
      off += 2 * kCacheLine + align_up(std::size_t{cap} * 4, kCacheLine);
    }
    l.elements_offset = off;
    off += std::size_t{n} * l.element_stride;
    l.total_bytes = off;
    l.valid = true;
    return l;
  }
};

// Bytes of shared memory a region with `config` needs (0 if the config is invalid).
constexpr std::size_t region_bytes(const RingConfig& config) { return RingLayout::of(config).total_bytes; }

// Written once by the kernel side when it formats a region; the group side may check it.
struct RegionHeader {
  std::uint32_t magic;
  std::uint32_t version;
  RingConfig config;
  std::uint32_t generation;  // bumped by the supervisor each time the group is (re)started
};

namespace detail {
// One SPSC index ring in shared memory: producer cursor, consumer cursor, slots.
struct alignas(kCacheLine) SharedRingCursors {
  std::atomic<std::uint32_t> tail;  // written by the producer only
  char pad0[kCacheLine - 4];
  std::atomic<std::uint32_t> head;  // written by the consumer only
  char pad1[kCacheLine - 4];
};
static_assert(sizeof(SharedRingCursors) == 2 * kCacheLine);

inline constexpr std::uint32_t kKindShift = 30;
inline constexpr std::uint32_t kIndexMask = (1u << 16) - 1;
inline constexpr std::uint32_t encode(EntryKind kind, std::uint32_t index) {
  return (static_cast<std::uint32_t>(kind) << kKindShift) | index;
}
}  // namespace detail

// Prepares `memory` as a fresh region (kernel side, before the group starts or after it
// restarted). Returns no_memory if it is too small, bad_message if misaligned or config invalid.
inline Status format_region(void* memory, std::size_t bytes, const RingConfig& config, std::uint32_t generation) {
  const RingLayout l = RingLayout::of(config);
  if (!l.valid) return Status::bad_message;
  if (reinterpret_cast<std::uintptr_t>(memory) % kCacheLine != 0) return Status::bad_message;
  if (bytes < l.total_bytes) return Status::no_memory;
  auto* base = static_cast<std::byte*>(memory);
  std::memset(base, 0, l.elements_offset);
  for (int s = 0; s < 2; ++s) {
    new (base + l.doorbell_offset[s]) Doorbell();
    auto* cur = new (base + l.ring_offset[s]) detail::SharedRingCursors();
    cur->tail.store(0, std::memory_order_relaxed);
    cur->head.store(0, std::memory_order_relaxed);
  }
  auto* h = new (base + l.header_offset) RegionHeader();
  h->magic = kRegionMagic;
  h->version = kRegionVersion;
  h->config = config;
  h->generation = generation;
  std::atomic_thread_fence(std::memory_order_release);
  return Status::ok;
}

// What one side knows about a region it uses. MaxElements bounds the private state (one byte per
// element plus a free bitmap); choose small values on microcontrollers.
template <std::uint32_t MaxElements = 1024>
class BasicRingEndpoint {
 public:
  // Wakes the peer's consumer, whose doorbell is `bell` (e.g. futex wake on bell->seq).
  using Notify = void (*)(void* ctx, Doorbell* bell);

  BasicRingEndpoint() = default;
  BasicRingEndpoint(const BasicRingEndpoint&) = delete;
  BasicRingEndpoint& operator=(const BasicRingEndpoint&) = delete;

  // Attaches to a formatted region. The group side also checks the header against `config`.
  // Any failure leaves the endpoint unattached (every operation then fails cleanly).
  Status attach(Side side, void* memory, std::size_t bytes, const RingConfig& config, Notify notify, void* notify_ctx,
                Scheduler& scheduler = Scheduler::current()) {
    detach();
    const RingLayout l = RingLayout::of(config);
    if (!l.valid || config.elements() > MaxElements) return Status::bad_message;
    if (reinterpret_cast<std::uintptr_t>(memory) % kCacheLine != 0) return Status::bad_message;
    if (bytes < l.total_bytes) return Status::no_memory;
    base_ = static_cast<std::byte*>(memory);
    if (side == Side::group) {
      RegionHeader h;
      std::memcpy(&h, base_ + l.header_offset, sizeof h);
      if (h.magic != kRegionMagic || h.version != kRegionVersion || !(h.config == config)) {
        base_ = nullptr;
        return Status::schema_mismatch;
      }
    }
    side_ = side;
    config_ = config;
    layout_ = l;
    notify_ = notify;
    notify_ctx_ = notify_ctx;
    scheduler_ = &scheduler;
    mine_begin_ = side == Side::kernel ? 0 : config.kernel_elements;
    mine_count_ = side == Side::kernel ? config.kernel_elements : config.group_elements;
    // The cursors continue from what is in shared memory only at attach time; from then on
    // they are private. A fresh region starts at zero.
    out_ = cursors(side_);
    in_ = cursors(other(side_));
    out_tail_ = out_->tail.load(std::memory_order_acquire);
    in_head_ = in_->head.load(std::memory_order_acquire);
    published_tail_ = out_tail_;
    out_head_seen_ = out_->head.load(std::memory_order_acquire);
    if (out_tail_ - out_head_seen_ > l.ring_capacity) {
      base_ = nullptr;
      return Status::bad_message;
    }
    for (std::uint32_t i = 0; i < kWords; ++i) free_[i].store(0, std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < mine_count_; ++i) {
      free_[i / 32].fetch_or(1u << (i % 32), std::memory_order_relaxed);
    }
    for (std::uint32_t i = 0; i < MaxElements; ++i) state_[i].store(kIdle, std::memory_order_relaxed);
    in_flight_.store(0, std::memory_order_relaxed);
    corrupted_ = false;
    fault_ = "";
    return Status::ok;
  }

  void detach() { base_ = nullptr; }
  bool attached() const { return base_ != nullptr; }
  Side side() const { return side_; }
  const RingConfig& config() const { return config_; }
  const RingLayout& layout() const { return layout_; }

  // ---- element allocation (lock-free; any thread) ----

  // Takes a free element of this side's partition; -1 if all are in flight.
  std::int32_t try_acquire() {
    if (!attached()) return -1;
    const std::uint32_t words = (mine_count_ + 31) / 32;
    std::uint32_t w = hint_.load(std::memory_order_relaxed);
    if (w >= words) w = 0;
    for (std::uint32_t k = 0; k < words; ++k, w = (w + 1 == words) ? 0 : w + 1) {
      std::uint32_t v = free_[w].load(std::memory_order_acquire);
      while (v != 0) {
        const std::uint32_t bit = static_cast<std::uint32_t>(__builtin_ctz(v));
        if (free_[w].compare_exchange_weak(v, v & ~(1u << bit), std::memory_order_acq_rel, std::memory_order_acquire)) {
          hint_.store(w, std::memory_order_relaxed);
          const std::uint32_t index = mine_begin_ + w * 32 + bit;
          state_[index].store(kOwned, std::memory_order_relaxed);
          in_flight_.fetch_add(1, std::memory_order_relaxed);
          return static_cast<std::int32_t>(index);
        }
      }
    }
    return -1;
  }

  // Returns an element of this side's partition. If callers wait for one, the element is handed
  // straight to the first waiter, which the scheduler then resumes.
  void release(std::uint32_t index) {
    if (!attached() || !is_mine(index)) return;
    state_[index].store(kIdle, std::memory_order_relaxed);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    const std::uint32_t local = index - mine_begin_;
    free_[local / 32].fetch_or(1u << (local % 32), std::memory_order_seq_cst);
    if (waiting_.load(std::memory_order_seq_cst) != 0) hand_over();
  }

  // `co_await endpoint.acquire()` -> element index, or -1 if the endpoint was reset/detached
  // while waiting. Suspends (back-pressure) while the partition is exhausted.
  class AcquireAwaiter : public Runnable {
   public:
    explicit AcquireAwaiter(BasicRingEndpoint* e) : endpoint_(e) {
      run = [](Runnable* r) { static_cast<AcquireAwaiter*>(r)->handle_.resume(); };
    }
    bool await_ready() {
      index_ = endpoint_->try_acquire();
      return index_ >= 0 || !endpoint_->attached();
    }
    bool await_suspend(std::coroutine_handle<> h) {
      handle_ = h;
      return endpoint_->enqueue_waiter(this);
    }
    std::int32_t await_resume() const { return index_; }

   private:
    friend class BasicRingEndpoint;
    BasicRingEndpoint* endpoint_;
    std::coroutine_handle<> handle_;
    AcquireAwaiter* next_waiter_ = nullptr;
    std::int32_t index_ = -1;
  };
  AcquireAwaiter acquire() { return AcquireAwaiter(this); }

  // Resumes every waiter with -1 (used when the endpoint is torn down, e.g. peer restart).
  void fail_waiters() {
    for (;;) {
      AcquireAwaiter* w;
      {
        arch::LockGuard guard(waiters_lock_);
        w = waiters_head_;
        if (w == nullptr) break;
        waiters_head_ = w->next_waiter_;
        if (waiters_head_ == nullptr) waiters_tail_ = nullptr;
        waiting_.fetch_sub(1, std::memory_order_seq_cst);
      }
      w->index_ = -1;
      scheduler_->post(w);
    }
  }

  std::uint32_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  std::uint32_t waiters() const { return waiting_.load(std::memory_order_relaxed); }
  std::uint32_t capacity() const { return mine_count_; }

  // ---- element access ----

  // The shared header/payload of element `index` (index must be < elements()). Contents written
  // by the peer must be copied (read_header / copy_payload) before they are trusted.
  ElementHeader* header(std::uint32_t index) {
    return reinterpret_cast<ElementHeader*>(base_ + layout_.elements_offset +
                                            std::size_t{index} * layout_.element_stride);
  }
  std::byte* payload(std::uint32_t index) { return reinterpret_cast<std::byte*>(header(index) + 1); }
  std::uint32_t payload_capacity() const { return config_.payload_bytes; }

  // Copies the header out of shared memory once and validates its size field.
  Status read_header(std::uint32_t index, ElementHeader& out) {
    if (!attached() || index >= config_.elements()) return Status::bad_message;
    std::memcpy(&out, header(index), sizeof out);
    if (out.size > config_.payload_bytes) return corrupt("element size exceeds payload capacity");
    return Status::ok;
  }

  // ---- producing (one thread: the side's loop) ----

  // Stages entry {kind, index}; becomes visible to the peer at flush(). Requests must name an
  // element this side owns (acquired); responses one the peer sent us as a request.
  Status push(EntryKind kind, std::uint32_t index) {
    if (!attached()) return Status::unavailable;
    if (corrupted_) return Status::bad_message;
    if (index >= config_.elements()) return Status::internal;
    if (kind == EntryKind::request) {
      if (!is_mine(index) || state_[index].load(std::memory_order_relaxed) != kOwned) return Status::internal;
      state_[index].store(kSent, std::memory_order_relaxed);
    } else {
      if (is_mine(index) || state_[index].load(std::memory_order_relaxed) != kServing) return Status::internal;
      state_[index].store(kIdle, std::memory_order_relaxed);
    }
    // The peer's consumer cursor is validated on every push (so garbage is caught before anything
    // is sent); it is cheap because the consumer writes it once per batch, not per entry.
    if (refresh_peer_head() != Status::ok) return Status::bad_message;
    if (out_tail_ - out_head_seen_ >= layout_.ring_capacity) {
      // Impossible for an honest peer: every element is in at most one ring.
      return corrupt("outgoing ring full: peer does not consume");
    }
    slots(side_)[out_tail_ & (layout_.ring_capacity - 1)].store(detail::encode(kind, index), std::memory_order_relaxed);
    ++out_tail_;
    return Status::ok;
  }

  // Publishes everything pushed since the last flush and rings the peer's doorbell once, only if
  // the peer sleeps (batched wake-ups). Returns true if a wake-up was sent.
  bool flush() {
    if (!attached() || out_tail_ == published_tail_) return false;
    out_->tail.store(out_tail_, std::memory_order_release);
    published_tail_ = out_tail_;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    Doorbell* bell = doorbell(other(side_));
    if (bell->sleeping.load(std::memory_order_relaxed) != 0) {
      bell->seq.fetch_add(1, std::memory_order_release);
      bell->rings.fetch_add(1, std::memory_order_relaxed);
      if (notify_ != nullptr) notify_(notify_ctx_, bell);
      return true;
    }
    return false;
  }

  // ---- consuming (one thread: the side's loop) ----

  // Pops up to out.size() validated entries. Stops at the first invalid one and marks the
  // endpoint corrupted (check corrupted()). Publishes the new head before returning.
  std::size_t poll(std::span<Entry> out) {
    if (!attached() || corrupted_) return 0;
    const std::uint32_t tail = in_->tail.load(std::memory_order_acquire);
    const std::uint32_t available = tail - in_head_;
    if (available > layout_.ring_capacity) {
      corrupt("peer moved its producer cursor beyond the ring");
      return 0;
    }
    std::size_t n = 0;
    const auto* in_slots = slots(other(side_));
    while (n < out.size() && in_head_ != tail) {
      const std::uint32_t raw = in_slots[in_head_ & (layout_.ring_capacity - 1)].load(std::memory_order_relaxed);
      const std::uint32_t kind_bits = raw >> detail::kKindShift;
      const std::uint32_t index = raw & detail::kIndexMask;
      if ((raw & ~(detail::kIndexMask | (3u << detail::kKindShift))) != 0 || index >= config_.elements()) {
        corrupt("ring entry names no element");
        break;
      }
      if (kind_bits == static_cast<std::uint32_t>(EntryKind::request)) {
        // A request must use one of the peer's elements that we are not serving already.
        if (is_mine(index)) {
          corrupt("request in one of our own elements");
          break;
        }
        if (state_[index].load(std::memory_order_relaxed) != kIdle) {
          corrupt("request in an element already being served");
          break;
        }
        state_[index].store(kServing, std::memory_order_relaxed);
        out[n++] = Entry{EntryKind::request, index};
      } else if (kind_bits == static_cast<std::uint32_t>(EntryKind::response)) {
        // A response must answer a request we sent and have not yet seen answered.
        if (!is_mine(index) || state_[index].load(std::memory_order_relaxed) != kSent) {
          corrupt("response for an element with no request in flight");
          break;
        }
        state_[index].store(kOwned, std::memory_order_relaxed);
        out[n++] = Entry{EntryKind::response, index};
      } else {
        corrupt("ring entry of unknown kind");
        break;
      }
      ++in_head_;
    }
    if (n != 0) in_->head.store(in_head_, std::memory_order_release);  // no write while idle-polling
    return n;
  }

  // True if the incoming ring has entries (cheap; for spinning).
  bool has_incoming() const { return attached() && in_->tail.load(std::memory_order_acquire) != in_head_; }

  // Before sleeping on my_doorbell()->seq: announces the sleep; returns false (and cancels the
  // announcement) if entries arrived meanwhile. `seq_out` is the value to wait on.
  bool prepare_sleep(std::uint32_t& seq_out) {
    Doorbell* bell = doorbell(side_);
    seq_out = bell->seq.load(std::memory_order_acquire);
    bell->sleeping.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (has_incoming()) {
      bell->sleeping.store(0, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void end_sleep() { doorbell(side_)->sleeping.store(0, std::memory_order_relaxed); }

  Doorbell* my_doorbell() { return doorbell(side_); }
  Doorbell* peer_doorbell() { return doorbell(other(side_)); }

  // ---- health and inspection ----

  bool corrupted() const { return corrupted_; }
  const char* fault() const { return fault_; }

  struct Snapshot {
    std::uint32_t out_tail, out_head_seen, in_head, in_tail_seen;
    std::uint32_t in_flight, waiters, capacity;
    std::uint32_t wakeups_sent_to_peer;
    bool peer_sleeping, corrupted;
  };
  Snapshot snapshot() const {
    Snapshot s{};
    if (!attached()) return s;
    s.out_tail = out_tail_;
    s.out_head_seen = out_->head.load(std::memory_order_relaxed);
    s.in_head = in_head_;
    s.in_tail_seen = in_->tail.load(std::memory_order_relaxed);
    s.in_flight = in_flight();
    s.waiters = waiters();
    s.capacity = mine_count_;
    const Doorbell* bell = const_cast<BasicRingEndpoint*>(this)->doorbell(other(side_));
    s.wakeups_sent_to_peer = bell->rings.load(std::memory_order_relaxed);
    s.peer_sleeping = bell->sleeping.load(std::memory_order_relaxed) != 0;
    s.corrupted = corrupted_;
    return s;
  }

  // Element states (private), public for tests and the layer above.
  static constexpr std::uint8_t kIdle = 0;     // free (mine) / not being served (peer's)
  static constexpr std::uint8_t kOwned = 1;    // mine, acquired, not in a ring
  static constexpr std::uint8_t kSent = 2;     // mine, request in flight to the peer
  static constexpr std::uint8_t kServing = 3;  // peer's, request popped, response not yet pushed
  std::uint8_t state(std::uint32_t index) const {
    return index < MaxElements ? state_[index].load(std::memory_order_relaxed) : kIdle;
  }
  bool is_mine(std::uint32_t index) const { return index - mine_begin_ < mine_count_; }

  // Records a protocol violation by the peer (also for the layer above, e.g. a bad payload).
  Status corrupt(const char* why) {
    if (!corrupted_) fault_ = why;
    corrupted_ = true;
    return Status::bad_message;
  }

 private:
  static constexpr std::uint32_t kWords = (MaxElements + 31) / 32;

  // Reads the peer's consumer cursor: it may only move forward, up to what we produced.
  Status refresh_peer_head() {
    const std::uint32_t head = out_->head.load(std::memory_order_acquire);
    if (head - out_head_seen_ > out_tail_ - out_head_seen_) return corrupt("peer moved its consumer cursor past ours");
    out_head_seen_ = head;
    return Status::ok;
  }

  detail::SharedRingCursors* cursors(Side producer) {
    return reinterpret_cast<detail::SharedRingCursors*>(base_ + layout_.ring_offset[static_cast<int>(producer)]);
  }
  std::atomic<std::uint32_t>* slots(Side producer) {
    return reinterpret_cast<std::atomic<std::uint32_t>*>(base_ + layout_.ring_offset[static_cast<int>(producer)] +
                                                         sizeof(detail::SharedRingCursors));
  }
  const std::atomic<std::uint32_t>* slots(Side producer) const {
    return const_cast<BasicRingEndpoint*>(this)->slots(producer);
  }
  Doorbell* doorbell(Side consumer) {
    return reinterpret_cast<Doorbell*>(base_ + layout_.doorbell_offset[static_cast<int>(consumer)]);
  }

  bool enqueue_waiter(AcquireAwaiter* w) {
    arch::LockGuard guard(waiters_lock_);
    w->next_waiter_ = nullptr;
    if (waiters_tail_ != nullptr) {
      waiters_tail_->next_waiter_ = w;
    } else {
      waiters_head_ = w;
    }
    waiters_tail_ = w;
    waiting_.fetch_add(1, std::memory_order_seq_cst);
    // A release between our failed try_acquire and the enqueue would not have seen us: retry.
    const std::int32_t index = try_acquire();
    if (index < 0) return true;
    // Got one after all: take ourselves off the list (we are the tail or somewhere before it).
    remove_waiter_locked(w);
    w->index_ = index;
    return false;
  }

  void remove_waiter_locked(AcquireAwaiter* w) {
    AcquireAwaiter* prev = nullptr;
    for (AcquireAwaiter* p = waiters_head_; p != nullptr; prev = p, p = p->next_waiter_) {
      if (p == w) {
        if (prev != nullptr) {
          prev->next_waiter_ = p->next_waiter_;
        } else {
          waiters_head_ = p->next_waiter_;
        }
        if (waiters_tail_ == p) waiters_tail_ = prev;
        waiting_.fetch_sub(1, std::memory_order_seq_cst);
        return;
      }
    }
  }

  void hand_over() {
    AcquireAwaiter* w = nullptr;
    {
      arch::LockGuard guard(waiters_lock_);
      if (waiters_head_ == nullptr) return;
      const std::int32_t index = try_acquire();
      if (index < 0) return;  // someone else took it; their release will serve the waiter
      w = waiters_head_;
      waiters_head_ = w->next_waiter_;
      if (waiters_head_ == nullptr) waiters_tail_ = nullptr;
      waiting_.fetch_sub(1, std::memory_order_seq_cst);
      w->index_ = index;
    }
    scheduler_->post(w);
  }

  std::byte* base_ = nullptr;
  Side side_ = Side::kernel;
  RingConfig config_{};
  RingLayout layout_{};
  Notify notify_ = nullptr;
  void* notify_ctx_ = nullptr;
  Scheduler* scheduler_ = nullptr;
  std::uint32_t mine_begin_ = 0;
  std::uint32_t mine_count_ = 0;

  detail::SharedRingCursors* out_ = nullptr;
  detail::SharedRingCursors* in_ = nullptr;
  std::uint32_t out_tail_ = 0;        // private producer cursor
  std::uint32_t published_tail_ = 0;  // last value stored to shared memory
  std::uint32_t out_head_seen_ = 0;   // peer's consumer cursor as last read (validated)
  std::uint32_t in_head_ = 0;         // private consumer cursor

  std::atomic<std::uint32_t> free_[kWords] = {};
  std::atomic<std::uint32_t> hint_{0};
  std::atomic<std::uint8_t> state_[MaxElements] = {};
  std::atomic<std::uint32_t> in_flight_{0};

  arch::QueueLock waiters_lock_;
  AcquireAwaiter* waiters_head_ = nullptr;
  AcquireAwaiter* waiters_tail_ = nullptr;
  std::atomic<std::uint32_t> waiting_{0};

  bool corrupted_ = false;
  const char* fault_ = "";
};

using RingEndpoint = BasicRingEndpoint<>;

}  // namespace ambience::ipc
