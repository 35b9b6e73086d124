#include "kernel/arch/hosted_linux/sandbox.hpp"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

namespace ambience::hosted {

Status install_group_sandbox() {
  // The system calls a group's runtime makes after setup, and why.
  static const int kAllowed[] = {
    SYS_futex,            // doorbells, job waits
    SYS_clock_gettime,    // timers (normally vDSO; the fallback is a system call)
    SYS_clock_nanosleep,  // sleeps
    SYS_nanosleep,
    SYS_sched_yield,      // spinning politely on a shared CPU
    SYS_getcpu,           // which CPU we spin on (normally vDSO/rseq; the fallback)
    SYS_write,            // console diagnostics (stdout/stderr inherited)
    SYS_exit,
    SYS_exit_group,
    SYS_rt_sigreturn,
    SYS_rt_sigprocmask,   // abort()
    SYS_getpid,           // abort() -> raise()
    SYS_gettid,
    SYS_tgkill,
    SYS_brk,              // heap pages (service code may allocate outside hot paths)
    SYS_mmap,
    SYS_munmap,
    SYS_madvise,
#if defined(__SANITIZE_ADDRESS__)
      // AddressSanitizer's runtime probes memory through a pipe and manages its own stacks.
    SYS_pipe2,
    SYS_read,
    SYS_close,
    SYS_sigaltstack,
    SYS_prlimit64,
#endif
  };
  constexpr unsigned kCount = sizeof(kAllowed) / sizeof(kAllowed[0]);
  sock_filter filter[4 + 2 * kCount + 1];
  unsigned n = 0;
  filter[n++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  filter[n++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  filter[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  filter[n++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
  for (int nr : kAllowed) {
    filter[n++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1);
    filter[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  }
  filter[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  sock_fprog prog{static_cast<unsigned short>(n), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Status::access_denied;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return Status::access_denied;
  return Status::ok;
}

}  // namespace ambience::hosted
