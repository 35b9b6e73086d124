// Task<T>: a lazily started, awaitable, stackless coroutine — the kernel's default way to write
// asynchronous code. Frames come from FrameAllocator (bounded). A task that cannot get a frame is
// "empty": awaiting it yields Status::no_memory when T can carry one (Status, Result<U>), and
// otherwise stops the kernel with a named fatal error — never undefined behaviour.
#pragma once

#include <coroutine>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "kernel/core/frame_allocator.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/status.hpp"

namespace ambience {

template <class T = void>
class Task;

namespace detail {

struct PromiseBase {
  // Resumes the coroutine from the scheduler (spawn, yield).
  struct ResumeNode : Runnable {
    std::coroutine_handle<> handle;
  };

  std::coroutine_handle<> continuation;
  ResumeNode resume_node;
  bool detached = false;

  static void* operator new(std::size_t bytes) noexcept { return FrameAllocator::instance().allocate(bytes); }
  static void operator delete(void* frame, std::size_t bytes) noexcept {
    FrameAllocator::instance().deallocate(frame, bytes);
  }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      PromiseBase& p = h.promise();
      if (p.continuation) return p.continuation;  // symmetric transfer: no stack growth
      if (p.detached) h.destroy();
      return std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  void unhandled_exception() noexcept { fatal("exception escaped a coroutine"); }
};

template <class T>
T empty_task_result() {
  if constexpr (std::is_same_v<T, Status>) {
    return Status::no_memory;
  } else if constexpr (is_result<T>::value) {
    return T(Status::no_memory);
  } else {
    fatal("coroutine frame allocator exhausted (FrameAllocator arena too small)");
  }
}

template <class TaskT, class T>
struct ValuePromise : PromiseBase {
  alignas(T) unsigned char storage[sizeof(T)];
  bool has_value = false;

  TaskT get_return_object() noexcept { return TaskT(std::coroutine_handle<ValuePromise>::from_promise(*this)); }
  static TaskT get_return_object_on_allocation_failure() noexcept { return TaskT(nullptr); }
  template <class U>
  void return_value(U&& value) {
    new (storage) T(std::forward<U>(value));
    has_value = true;
  }
  T take() { return std::move(*std::launder(reinterpret_cast<T*>(storage))); }
  ~ValuePromise() {
    if (has_value) std::launder(reinterpret_cast<T*>(storage))->~T();
  }
};

template <class TaskT>
struct VoidPromise : PromiseBase {
  TaskT get_return_object() noexcept { return TaskT(std::coroutine_handle<VoidPromise>::from_promise(*this)); }
  static TaskT get_return_object_on_allocation_failure() noexcept { return TaskT(nullptr); }
  void return_void() noexcept {}
};

}  // namespace detail

// Ownership and awaiting, shared by Task<T> and Task<void>.
template <class Promise>
class TaskHandle {
 public:
  using Handle = std::coroutine_handle<Promise>;

  TaskHandle(TaskHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  TaskHandle& operator=(TaskHandle&& other) noexcept {
    if (this != &other) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  ~TaskHandle() {
    if (handle_) handle_.destroy();
  }

  bool valid() const { return static_cast<bool>(handle_); }
  bool await_ready() const noexcept { return !handle_; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    handle_.promise().continuation = awaiting;
    return handle_;  // start (or continue) the awaited task right away
  }
  Handle release() { return std::exchange(handle_, nullptr); }

 protected:
  explicit TaskHandle(Handle h) : handle_(h) {}
  Handle handle_;
};

template <class T>
class [[nodiscard]] Task : public TaskHandle<detail::ValuePromise<Task<T>, T>> {
  using Base = TaskHandle<detail::ValuePromise<Task<T>, T>>;

 public:
  using promise_type = detail::ValuePromise<Task<T>, T>;
  explicit Task(typename Base::Handle h) : Base(h) {}

  T await_resume() {
    if (!this->handle_) return detail::empty_task_result<T>();
    return this->handle_.promise().take();
  }
};

template <>
class [[nodiscard]] Task<void> : public TaskHandle<detail::VoidPromise<Task<void>>> {
  using Base = TaskHandle<detail::VoidPromise<Task<void>>>;

 public:
  using promise_type = detail::VoidPromise<Task<void>>;
  explicit Task(Base::Handle h) : Base(h) {}

  void await_resume() {
    if (!handle_) detail::empty_task_result<void>();
  }
};

// Starts `task` on the scheduler as a root: it runs detached and frees its frame when done.
// Returns Status::no_memory (and starts nothing) if the task got no frame.
inline Status spawn(Task<void> task, Scheduler& scheduler = Scheduler::current()) {
  if (!task.valid()) return Status::no_memory;
  auto h = task.release();
  auto& p = h.promise();
  p.detached = true;
  p.resume_node.handle = h;
  p.resume_node.run = [](Runnable* r) { static_cast<detail::PromiseBase::ResumeNode*>(r)->handle.resume(); };
  scheduler.post(&p.resume_node);
  return Status::ok;
}

// `co_await yield()`: lets everything else that is ready run first.
struct YieldAwaiter {
  Scheduler* scheduler;
  detail::PromiseBase::ResumeNode node;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    node.handle = h;
    node.run = [](Runnable* r) { static_cast<detail::PromiseBase::ResumeNode*>(r)->handle.resume(); };
    scheduler->post(&node);
  }
  void await_resume() const noexcept {}
};
inline YieldAwaiter yield(Scheduler& scheduler = Scheduler::current()) { return {&scheduler, {}}; }

}  // namespace ambience
