#include "kernel/arch/cortex_m/group_runtime.hpp"

#include <cstring>

namespace ambience::mcu {

GroupRuntime& GroupRuntime::create(const GroupBoot* boot) {
  static_assert(alignof(GroupRuntime) <= 8);
  if (boot->state_bytes < sizeof(GroupRuntime)) sys::exit(-1);  // the plan gave too little state
  return *new (boot->state) GroupRuntime(boot);
}

GroupRuntime::GroupRuntime(const GroupBoot* boot)
    : boot_(boot),
      next_(boot->state + ((sizeof(GroupRuntime) + 7) & ~std::size_t{7})),
      end_(boot->state + boot->state_bytes) {
  if (endpoint_.attach(ipc::Side::group, boot->ring, boot->ring_bytes, kGroupRing, nullptr, nullptr, scheduler_) !=
      Status::ok) {
    sys::exit(-2);
  }
}

void* GroupRuntime::allocate(std::size_t bytes, std::size_t alignment) {
  auto p = (reinterpret_cast<std::uintptr_t>(next_) + alignment - 1) & ~(alignment - 1);
  if (p + bytes > reinterpret_cast<std::uintptr_t>(end_)) return nullptr;
  next_ = reinterpret_cast<std::byte*>(p + bytes);
  return reinterpret_cast<void*>(p);
}

namespace {

void group_console_write(const char* data, std::size_t size) { sys::log(data, static_cast<std::uint32_t>(size)); }

Task<void> run_and_flag(Task<void> task, bool* done) {
  co_await std::move(task);
  *done = true;
}

}  // namespace

bool GroupRuntime::enable_core(std::size_t arena_bytes) {
  void* arena = allocate(arena_bytes, 16);
  FrameAllocator* frames = arena != nullptr ? make<FrameAllocator>(arena, arena_bytes) : nullptr;
  if (frames == nullptr) return false;
  core_ = arch::CoreContext{&scheduler_, frames, 0, &group_console_write};
  // The boot block is in our region: the kernel publishes this slot's address, never its value.
  const_cast<GroupBoot*>(boot_)->core = &core_;
  return true;
}

Status GroupRuntime::run(Task<void> task) {
  bool done = false;
  if (spawn(run_and_flag(std::move(task), &done), scheduler_) != Status::ok) return Status::no_memory;
  run_until([](void* flag) { return *static_cast<bool*>(flag); }, &done);
  return Status::ok;
}

void GroupRuntime::run_until(bool (*done)(void* context), void* context) {
  while (!done(context)) {
    if (scheduler_.run_ready() != 0 || done(context) || poll()) continue;
    // A coroutine waiting on a timer: stay ready (the kernel's clock advances), else sleep.
    if (scheduler_.has_work()) {
      sys::yield();
    } else {
      wait();
    }
  }
}

void GroupRuntime::serve(std::uint16_t instance, ServiceBinding binding) {
  for (Local& l : local_) {
    if (l.instance == kNoInstance || l.instance == instance) {
      l = Local{instance, binding, 0};
      return;
    }
  }
  sys::exit(-3);
}

void GroupRuntime::log(const char* text) { sys::log(text, std::strlen(text)); }

Status GroupRuntime::start_call(std::uint16_t instance, std::uint16_t method, const void* arg, std::uint32_t arg_len,
                                bool by_reference, void* result, std::uint32_t result_cap, std::int32_t* handle) {
  if (!by_reference && arg_len > kGroupRing.payload_bytes) return Status::no_memory;
  const std::int32_t index = endpoint_.try_acquire();
  if (index < 0) return Status::would_block;  // all our elements are in flight: back-pressure
  ipc::ElementHeader* h = endpoint_.header(index);
  h->cookie = static_cast<std::uint32_t>(index);
  h->target = instance;
  h->method = method;
  h->status = 0;
  h->flags = by_reference ? kFlagBufferArg : 0;
  h->size = by_reference ? 0 : arg_len;
  h->aux[0] = by_reference ? reinterpret_cast<std::uint32_t>(arg) : 0;
  h->aux[1] = by_reference ? arg_len : 0;
  h->aux[2] = reinterpret_cast<std::uint32_t>(result);
  h->aux[3] = result != nullptr ? result_cap : 0;
  if (!by_reference && arg_len != 0) copy_bytes(endpoint_.payload(index), arg, arg_len);
  done_[index] = false;
  if (endpoint_.push(ipc::EntryKind::request, static_cast<std::uint32_t>(index)) != Status::ok) {
    endpoint_.release(static_cast<std::uint32_t>(index));
    return Status::internal;
  }
  endpoint_.flush();
  *handle = index;
  return Status::ok;
}

Status GroupRuntime::start(std::uint16_t instance, std::uint16_t method, const void* arg, std::uint32_t arg_len,
                           std::int32_t* handle) {
  return start_call(instance, method, arg, arg_len, false, nullptr, 0, handle);
}

Status GroupRuntime::finish(std::int32_t handle, void* result, std::uint32_t result_cap, std::uint32_t* result_len) {
  const auto index = static_cast<std::uint32_t>(handle);
  while (!done_[index]) {
    if (!poll()) wait();
  }
  // Only status and size matter here, written by the (trusted) kernel; size is still bounded.
  const ipc::ElementHeader* h = endpoint_.header(index);
  const auto st = static_cast<Status>(h->status);
  std::uint32_t n = h->size < result_cap ? h->size : result_cap;
  if (n > kGroupRing.payload_bytes && h->aux[3] == 0) n = kGroupRing.payload_bytes;
  // Results the kernel wrote into our result space are there already; inline ones are copied.
  if (result != nullptr && h->aux[3] == 0 && n != 0) copy_bytes(result, endpoint_.payload(index), n);
  if (result_len != nullptr) *result_len = n;
  endpoint_.release(index);
  return st;
}

Status GroupRuntime::call(std::uint16_t instance, std::uint16_t method, const void* arg, std::uint32_t arg_len,
                          void* result, std::uint32_t result_cap, std::uint32_t* result_len) {
  if (arg_len <= kGroupRing.payload_bytes && (result != nullptr || result_cap == 0)) {
    DirectCall d;
    d.instance_method = instance | (std::uint32_t{method} << 16);
    d.arg = reinterpret_cast<std::uint32_t>(arg);
    d.arg_len = arg_len;
    d.result = reinterpret_cast<std::uint32_t>(result);
    d.result_cap = result_cap;
    d.done = 0;
    if (sys::call_direct(&d) == kDirectAccepted) {
      // Usually done already; else requests for us arrived meanwhile: serve them while waiting.
      while (d.done == 0) {
        if (!poll()) wait();
      }
      if (result_len != nullptr) *result_len = d.result_len;
      return static_cast<Status>(d.status);
    }
  }
  std::int32_t handle;
  Status st;
  while ((st = start_call(instance, method, arg, arg_len, false, result, result_cap, &handle)) == Status::would_block) {
    if (!poll()) wait();
  }
  if (st != Status::ok) return st;
  return finish(handle, nullptr, result_cap, result_len);
}

Status GroupRuntime::call_buffer(std::uint16_t instance, std::uint16_t method, const void* buffer, std::uint32_t len,
                                 void* result, std::uint32_t result_cap, std::uint32_t* result_len) {
  std::int32_t handle;
  Status st;
  while ((st = start_call(instance, method, buffer, len, true, result, result_cap, &handle)) == Status::would_block) {
    if (!poll()) wait();
  }
  if (st != Status::ok) return st;
  return finish(handle, nullptr, result_cap, result_len);
}

GroupRuntime::Local* GroupRuntime::find_local(std::uint16_t instance) {
  if (instance == kNoInstance) return nullptr;
  for (Local& l : local_) {
    if (l.instance == instance) return &l;
  }
  return nullptr;
}

GroupRuntime::CallFrom::CallFrom(GroupRuntime& runtime, std::uint16_t caller) {
  if (Local* l = runtime.find_local(caller)) {
    calls_ = &l->calls_out;
    ++*calls_;
  }
}

GroupRuntime::CallFrom::~CallFrom() {
  if (calls_ == nullptr) return;
  --*calls_;
  // Requests held for the instance wait for the next poll(): the caller is still on its way out.
}

// A direct call the kernel put in `slot` (our own memory; the kernel bounded the lengths).
Status GroupRuntime::serve_direct(DirectSlot& slot) {
  Local* local = find_local(static_cast<std::uint16_t>(slot.instance_method));
  slot.result_len = 0;
  if (local == nullptr) return Status::not_found;
  if (busy(*local)) return Status::would_block;  // not offered while busy (wait()); cannot be held
  const std::uint32_t cap = slot.result_cap < kGroupRing.payload_bytes ? slot.result_cap : kGroupRing.payload_bytes;
  const std::uint32_t arg_len = slot.arg_len < kGroupRing.payload_bytes ? slot.arg_len : kGroupRing.payload_bytes;
  ServiceCall call{static_cast<std::uint16_t>(slot.instance_method >> 16), slot.arg, arg_len, slot.result, cap, 0};
  const Status st = local->binding.fn(local->binding.self, call);
  slot.result_len = call.result_len < cap ? call.result_len : cap;
  return st;
}

void GroupRuntime::serve_request(std::uint32_t index) {
  ipc::ElementHeader h;
  if (endpoint_.read_header(index, h) != Status::ok) return;  // corrupted: the kernel restarts us
  Local* local = find_local(static_cast<std::uint16_t>(h.target));
  if (h.target > 0xFFFF) local = nullptr;
  if (local != nullptr && busy(*local)) {
    // Its element stays ours (unanswered) until then; at most every element once.
    if (held_count_ < kMaxRingElements) {
      held_[held_count_++] = index;
      return;
    }
  }
  ipc::ElementHeader* out = endpoint_.header(index);
  Status st = Status::not_found;
  std::uint32_t result_len = 0;
  if (local != nullptr) {
    std::byte args[kGroupRing.payload_bytes];
    const std::byte* arg = args;
    std::uint32_t arg_len = h.size;
    if (h.flags & kFlagBufferArg) {
      arg = reinterpret_cast<const std::byte*>(h.aux[0]);  // granted read-only by the kernel
      arg_len = h.aux[1];
    } else {
      copy_bytes(args, endpoint_.payload(index), arg_len);  // results reuse the payload
    }
    std::uint32_t cap = kGroupRing.payload_bytes;
    if (h.aux[3] != 0 && h.aux[3] < cap) cap = h.aux[3];
    ServiceCall call{h.method, arg, arg_len, endpoint_.payload(index), cap, 0};
    st = local->binding.fn(local->binding.self, call);
    result_len = call.result_len < cap ? call.result_len : cap;
  }
  out->status = static_cast<std::uint8_t>(st);
  out->size = result_len;
  endpoint_.push(ipc::EntryKind::response, index);
  endpoint_.flush();
  if (held_count_ != 0) serve_held();
}

bool GroupRuntime::serve_held() {
  bool served = false;
  for (std::uint32_t i = 0; i < held_count_;) {
    ipc::ElementHeader h;
    const std::uint32_t index = held_[i];
    const bool readable = endpoint_.read_header(index, h) == Status::ok;
    Local* local = readable && h.target <= 0xFFFF ? find_local(static_cast<std::uint16_t>(h.target)) : nullptr;
    if (readable && local != nullptr && busy(*local)) {
      ++i;
      continue;
    }
    for (std::uint32_t j = i; j + 1 < held_count_; ++j) held_[j] = held_[j + 1];
    --held_count_;
    if (readable) serve_request(index);  // may hold or serve others: scan again from the start
    served = true;
    i = 0;
  }
  return served;
}

bool GroupRuntime::any_busy() const {
  for (const Local& l : local_) {
    if (l.instance != kNoInstance && busy(l)) return true;
  }
  return false;
}

bool GroupRuntime::poll() {
  const bool served = held_count_ != 0 && serve_held();
  if (!endpoint_.has_incoming()) return served;
  ipc::Entry entries[kMaxRingElements];
  const std::size_t n = endpoint_.poll(entries);
  for (std::size_t i = 0; i < n; ++i) {
    if (entries[i].kind == ipc::EntryKind::request) {
      serve_request(entries[i].index);
    } else {
      done_[entries[i].index] = true;
    }
  }
  return served || n != 0;
}

void GroupRuntime::wait() {
  std::uint32_t seq;
  if (endpoint_.prepare_sleep(seq)) {
    if (any_busy()) {
      sys::wait();
    } else {
      DirectSlot slot;  // valid while we sleep in the SVCs below
      std::uint32_t r = sys::wait_direct(&slot, sizeof slot);
      while (r == kWaitDirectCall) {
        const Status st = serve_direct(slot);
        // Requests held while it ran go first: the reply goes back to sleep, and nothing would
        // wake us for requests that are no longer in the ring.
        if (held_count_ != 0) serve_held();
        r = sys::reply_direct(static_cast<std::uint32_t>(st));
      }
    }
  }
  endpoint_.end_sleep();
}

void GroupRuntime::serve_forever() {
  for (;;) {
    if (!poll()) wait();
  }
}

}  // namespace ambience::mcu
