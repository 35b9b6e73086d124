// Calls over a ring: a Channel is one side's endpoint plus the bookkeeping that turns ring
// entries into awaited calls (client) and dispatched requests (server). Portable (host + MCU).
//
// Client:                                       Server (handler registered with serve()):
//   auto slot = co_await ch.begin();              void on_request(void*, Channel& ch, Request r)
//   if (!slot) -> slot.status()                     ... read r.header / ch.payload(r.index)
//   write ch.payload(slot.index()), set size         write the reply into the same element
//   auto reply = co_await ch.call(slot, target, m)   ch.respond(r, status, size)  (now or later)
//   read ch.payload(slot.index()) (reply.size)
//   ch.finish(slot)                               // element back to the pool
//
// A call in flight when the peer restarts completes with Status::peer_restarted (reset_peer());
// a call never hangs on a dead peer. The channel's generation number counts those resets.
// Everything runs on the side's loop thread except acquire/release (see ring.hpp).
#pragma once

#include <coroutine>
#include <cstdint>
#include <span>

#include "kernel/core/scheduler.hpp"
#include "kernel/core/status.hpp"
#include "kernel/ipc/ring.hpp"

namespace ambience::ipc {

template <std::uint32_t MaxElements = 1024>
class BasicChannel {
 public:
  using Endpoint = BasicRingEndpoint<MaxElements>;

  // A request popped from the ring, with its header copied out of shared memory.
  struct Request {
    std::uint32_t index;
    ElementHeader header;
    std::uint32_t generation;  // of the channel when it arrived; a reply after a reset is dropped
  };
  using Handler = void (*)(void* ctx, BasicChannel& channel, const Request& request);

  // One element held by a caller between begin() and finish().
  class Slot {
   public:
    Slot() = default;
    explicit operator bool() const { return index_ >= 0; }
    Status status() const { return status_; }
    std::uint32_t index() const { return static_cast<std::uint32_t>(index_); }

   private:
    friend class BasicChannel;
    std::int32_t index_ = -1;
    std::uint32_t generation_ = 0;
    Status status_ = Status::unavailable;
  };

  // What co_await send() returns: the response header (validated) or an error status.
  struct Reply {
    Status status;  // transport status (ok, peer_restarted, bad_message, ...)
    ElementHeader header;
    Status remote() const { return static_cast<Status>(header.status); }
  };

  BasicChannel() {
    flush_node_.channel = this;
    flush_node_.run = &BasicChannel::run_flush;
  }
  BasicChannel(const BasicChannel&) = delete;
  BasicChannel& operator=(const BasicChannel&) = delete;

  Status attach(Side side, void* memory, std::size_t bytes, const RingConfig& config, typename Endpoint::Notify notify,
                void* notify_ctx, Scheduler& scheduler = Scheduler::current()) {
    scheduler_ = &scheduler;
    for (auto& p : pending_) p = nullptr;
    return endpoint_.attach(side, memory, bytes, config, notify, notify_ctx, scheduler);
  }

  void serve(Handler handler, void* ctx) {
    handler_ = handler;
    handler_ctx_ = ctx;
  }

  Endpoint& endpoint() { return endpoint_; }
  ElementHeader* header(std::uint32_t index) { return endpoint_.header(index); }
  std::byte* payload(std::uint32_t index) { return endpoint_.payload(index); }
  std::uint32_t payload_capacity() const { return endpoint_.payload_capacity(); }
  std::uint32_t generation() const { return generation_; }
  bool healthy() const { return endpoint_.attached() && !endpoint_.corrupted(); }

  // ---- client ----

  struct BeginAwaiter {
    BasicChannel* channel;
    typename Endpoint::AcquireAwaiter inner;
    std::uint32_t generation;
    bool await_ready() { return inner.await_ready(); }
    bool await_suspend(std::coroutine_handle<> h) { return inner.await_suspend(h); }
    Slot await_resume() {
      Slot s;
      s.index_ = inner.await_resume();
      s.generation_ = generation;
      if (s.index_ >= 0 && generation != channel->generation_) {
        // Handed an element of a region that was reset meanwhile: give up cleanly.
        s.index_ = -1;
      }
      s.status_ = s.index_ >= 0 ? Status::ok : Status::peer_restarted;
      if (!channel->endpoint_.attached()) s.status_ = Status::unavailable;
      return s;
    }
  };
  // Takes an element (waits while all are in flight: back-pressure).
  BeginAwaiter begin() { return BeginAwaiter{this, endpoint_.acquire(), generation_}; }

  // Takes an element or fails at once with would_block.
  Slot try_begin() {
    Slot s;
    s.index_ = endpoint_.try_acquire();
    s.generation_ = generation_;
    s.status_ = s.index_ >= 0 ? Status::ok : Status::would_block;
    return s;
  }

  struct SendAwaiter : Runnable {
    BasicChannel* channel;
    Slot slot;
    std::uint32_t cookie = 0;
    Reply reply{Status::internal, {}};
    std::coroutine_handle<> handle;

    bool await_ready() { return reply.status != Status::internal; }
    void await_suspend(std::coroutine_handle<> h) {
      handle = h;
      run = [](Runnable* r) { static_cast<SendAwaiter*>(r)->handle.resume(); };
    }
    Reply await_resume() const { return reply; }
  };

  // Sends the request in `slot` (payload and header->size already written) and waits for the
  // reply: `Reply r = co_await channel.call(slot, target, method);`
  SendAwaiter prepare_send(Slot& slot, std::uint32_t target, std::uint16_t method, std::uint8_t flags = 0) {
    SendAwaiter a;
    a.channel = this;
    a.slot = slot;
    if (!slot || slot.generation_ != generation_) {
      a.reply.status = Status::peer_restarted;
      return a;
    }
    ElementHeader* h = endpoint_.header(slot.index());
    a.cookie = ++next_cookie_;
    h->cookie = a.cookie;
    h->target = target;
    h->method = method;
    h->flags = flags;
    h->status = static_cast<std::uint8_t>(Status::internal);
    return a;
  }

  // The coroutine form of send: registers and pushes when awaited.
  auto call(Slot& slot, std::uint32_t target, std::uint16_t method, std::uint8_t flags = 0) {
    struct Awaiter {
      SendAwaiter inner;
      bool await_ready() { return inner.await_ready(); }
      bool await_suspend(std::coroutine_handle<> h) {
        inner.await_suspend(h);
        return inner.channel->submit(&inner);
      }
      Reply await_resume() const { return inner.await_resume(); }
    };
    return Awaiter{prepare_send(slot, target, method, flags)};
  }

  // Returns the slot's element to the pool (no-op if the region was reset since begin()).
  void finish(Slot& slot) {
    if (slot && slot.generation_ == generation_) endpoint_.release(slot.index());
    slot.index_ = -1;
  }

  // ---- server ----

  // Sends the reply for `request` (payload already written into its element).
  Status respond(const Request& request, Status status, std::uint32_t size) {
    if (request.generation != generation_) {
      return Status::peer_restarted;  // the requester restarted meanwhile: drop the reply
    }
    if (size > endpoint_.payload_capacity()) return Status::internal;
    ElementHeader* h = endpoint_.header(request.index);
    h->status = static_cast<std::uint8_t>(status);
    h->size = size;
    h->cookie = request.header.cookie;
    const Status s = endpoint_.push(EntryKind::response, request.index);
    schedule_flush();
    return s;
  }

  // ---- the loop's part ----

  // Pops and dispatches what arrived; returns the number of entries handled.
  std::size_t poll() {
    Entry entries[32];
    std::size_t total = 0;
    for (;;) {
      const std::size_t n = endpoint_.poll(entries);
      for (std::size_t k = 0; k < n; ++k) dispatch(entries[k]);
      total += n;
      if (n < 32) break;
    }
    return total;
  }

  // Publishes staged entries now (normally done by a runnable once per loop round).
  void flush() { endpoint_.flush(); }

  // The peer is gone (crashed, restarted, or found corrupt): every call in flight completes with
  // `why`, waiters for elements are woken, and the generation advances. Re-attach afterwards.
  void reset_peer(Status why = Status::peer_restarted) {
    ++generation_;
    for (auto& p : pending_) {
      if (p != nullptr) {
        p->reply.status = why;
        scheduler_->post(p);
        p = nullptr;
      }
    }
    endpoint_.fail_waiters();
  }

  // True when nothing of this channel is queued on the scheduler (safe to destroy it).
  bool quiescent() const { return !flush_node_.queued && calls_in_flight() == 0; }

  std::uint32_t calls_in_flight() const {
    std::uint32_t n = 0;
    for (auto* p : pending_) n += p != nullptr;
    return n;
  }

 private:
  struct FlushNode : Runnable {
    BasicChannel* channel;
  };
  static void run_flush(Runnable* r) { static_cast<FlushNode*>(r)->channel->endpoint_.flush(); }
  // Only the loop thread posts or runs the flush node, so reading `queued` here needs no lock.
  void schedule_flush() {
    if (!flush_node_.queued) scheduler_->post(&flush_node_);
  }

  // Returns true if the caller must suspend (request pushed), false if it completed at once.
  bool submit(SendAwaiter* a) {
    const std::uint32_t i = a->slot.index();
    if (!healthy()) {
      a->reply.status = endpoint_.attached() ? Status::bad_message : Status::unavailable;
      return false;
    }
    const Status s = endpoint_.push(EntryKind::request, i);
    if (s != Status::ok) {
      a->reply.status = s;
      return false;
    }
    pending_[i] = a;
    schedule_flush();
    return true;
  }

  void dispatch(const Entry& e) {
    if (e.kind == EntryKind::response) {
      SendAwaiter* a = pending_[e.index];
      pending_[e.index] = nullptr;
      if (a == nullptr) {
        endpoint_.corrupt("response to no pending call");
        return;
      }
      Status s = endpoint_.read_header(e.index, a->reply.header);
      if (s == Status::ok && a->reply.header.cookie != a->cookie) {
        s = endpoint_.corrupt("response cookie does not match the request");
      }
      if (s == Status::ok && a->reply.header.status > static_cast<std::uint8_t>(Status::internal)) {
        s = endpoint_.corrupt("response carries an unknown status");
      }
      a->reply.status = s;
      scheduler_->post(a);
      return;
    }
    Request r;
    r.index = e.index;
    r.generation = generation_;
    if (endpoint_.read_header(e.index, r.header) != Status::ok) return;  // corrupt() already set
    if (handler_ == nullptr) {
      ElementHeader* h = endpoint_.header(e.index);
      h->status = static_cast<std::uint8_t>(Status::not_found);
      h->size = 0;
      (void)endpoint_.push(EntryKind::response, e.index);
      schedule_flush();
      return;
    }
    handler_(handler_ctx_, *this, r);
  }

  Endpoint endpoint_;
  Scheduler* scheduler_ = &Scheduler::current();
  SendAwaiter* pending_[MaxElements] = {};
  Handler handler_ = nullptr;
  void* handler_ctx_ = nullptr;
  FlushNode flush_node_;
  std::uint32_t generation_ = 1;
  std::uint32_t next_cookie_ = 0;
};

using Channel = BasicChannel<>;

}  // namespace ambience::ipc
