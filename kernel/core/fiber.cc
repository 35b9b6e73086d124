#include "kernel/core/fiber.hpp"

#include "kernel/core/arch.hpp"
#include "kernel/core/status.hpp"

namespace ambience {
namespace {

constexpr std::byte kPaint{0xa5};
constexpr std::size_t kGuardBytes = 16;  // must stay painted, or the fiber overflowed
Fiber* g_current = nullptr;  // the loop is single-threaded

}  // namespace

Fiber::Fiber(std::span<std::byte> stack, Entry entry, void* arg) : stack_(stack), entry_(entry), arg_(arg) {
  if (stack.size() < 256) fatal("fiber stack smaller than 256 bytes");
  for (auto& b : stack_) b = kPaint;
  resume_node_.fiber = this;
  resume_node_.run = &Fiber::run_node;
  sp_ = arch::prepare_stack(stack_.data() + stack_.size(), &Fiber::trampoline, this);
}

void Fiber::start(Scheduler& scheduler) {
  scheduler_ = &scheduler;
  scheduler.post(&resume_node_);
}

void Fiber::run_node(Runnable* r) {
  Fiber* f = static_cast<Node*>(r)->fiber;
  if (f->finished_) return;
  Fiber* previous = g_current;
  g_current = f;
  arch::ambience_context_switch(&f->loop_sp_, f->sp_);
  g_current = previous;
  f->check_stack();
}

void Fiber::trampoline(void* self) {
  auto* f = static_cast<Fiber*>(self);
  f->entry_(f->arg_);
  f->finished_ = true;
  void* dead_sp;
  arch::ambience_context_switch(&dead_sp, f->loop_sp_);
  fatal("finished fiber resumed");
}

Fiber* Fiber::current() { return g_current; }

void Fiber::suspend() {
  Fiber* f = g_current;
  if (f == nullptr) fatal("Fiber::suspend called outside a fiber");
  arch::ambience_context_switch(&f->sp_, f->loop_sp_);
}

void Fiber::yield() {
  Fiber* f = g_current;
  if (f == nullptr) fatal("Fiber::yield called outside a fiber");
  f->scheduler_->post(&f->resume_node_);
  suspend();
}

std::size_t Fiber::stack_high_water() const {
  std::size_t untouched = 0;
  while (untouched < stack_.size() && stack_[untouched] == kPaint) ++untouched;
  return stack_.size() - untouched;
}

void Fiber::check_stack() const {
  for (std::size_t i = 0; i < kGuardBytes; ++i) {
    if (stack_[i] != kPaint) fatal("fiber stack overflow");
  }
}

}  // namespace ambience
