#include "runtime/hosted/serial_port.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include "kernel/core/sleep.hpp"

namespace ambience::hosted {
namespace {

bool set_nonblocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// Raw 8-bit line: the link's bytes (0x00 delimiters, any value inside) must pass unchanged.
bool make_raw(int fd) {
  termios t;
  if (tcgetattr(fd, &t) != 0) return false;
  cfmakeraw(&t);
  t.c_cflag |= CLOCAL | CREAD;
  // VMIN 1: with O_NONBLOCK an empty line reads as EAGAIN; VMIN 0 would read as 0 bytes,
  // which is indistinguishable from the other end closing.
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  return tcsetattr(fd, TCSANOW, &t) == 0;
}

Result<int> connect_unix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return Status::bad_message;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::unavailable;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return Status::unavailable;
  }
  return fd;
}

bool peer_gone(int err) { return err == EPIPE || err == ECONNRESET || err == EIO || err == ENOTCONN; }

}  // namespace

Result<SerialArgument> parse_serial_argument(std::string_view text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size()) return Status::bad_message;
  return SerialArgument{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

Result<std::unique_ptr<HostedSerialPort>> HostedSerialPort::open(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Status::not_found;
  int fd = -1;
  if (S_ISSOCK(st.st_mode)) {
    Result<int> r = connect_unix(path);
    if (!r.ok()) return r.status();
    fd = r.value();
  } else if (S_ISCHR(st.st_mode)) {
    fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return Status::unavailable;
    if (!isatty(fd) || !make_raw(fd)) {
      close(fd);
      return Status::unavailable;
    }
  } else {
    return Status::unavailable;
  }
  return std::make_unique<HostedSerialPort>(fd);
}

HostedSerialPort::HostedSerialPort(int fd) : fd_(fd) {
  struct stat st;
  socket_ = fstat(fd_, &st) == 0 && S_ISSOCK(st.st_mode);
  if (!set_nonblocking(fd_)) up_ = false;
}

HostedSerialPort::~HostedSerialPort() {
  if (fd_ >= 0) close(fd_);
}

Task<Status> HostedSerialPort::write(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    if (!up_) co_return Status::unavailable;
    // MSG_NOSIGNAL where it applies: a closed peer is a status, not SIGPIPE.
    const ssize_t n = socket_ ? send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT)
                              : ::write(fd_, bytes.data(), bytes.size());
    if (n > 0) {
      bytes = bytes.subspan(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      ++write_waits_;
      write_waiting_ = true;
      co_await sleep_for(kWriteRetryUs);
      write_waiting_ = false;
      continue;
    }
    up_ = false;
    co_return Status::unavailable;
  }
  co_return Status::ok;
}

std::size_t HostedSerialPort::read(std::span<std::byte> out) {
  if (!up_ || out.empty()) return 0;
  for (;;) {
    const ssize_t n = ::read(fd_, out.data(), out.size());
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) {
      up_ = false;  // EOF: the other end closed
      return 0;
    }
    if (errno == EINTR) continue;
    if (peer_gone(errno)) up_ = false;
    return 0;
  }
}

SerialIdleHook::SerialIdleHook(int slice_ms) : slice_ms_(slice_ms) {
  hook_.poll = &SerialIdleHook::poll;
  hook_.prepare_sleep = &SerialIdleHook::prepare_sleep;
  hook_.end_sleep = &SerialIdleHook::end_sleep;
  hook_.ctx = this;
}

SerialIdleHook::~SerialIdleHook() { uninstall(); }

void SerialIdleHook::add(rpc::SerialLink& link, HostedSerialPort& port) { lines_.push_back({&link, &port}); }

void SerialIdleHook::install() {
  arch::hosted::set_idle_hook(&hook_);
  installed_ = true;
}

void SerialIdleHook::uninstall() {
  if (!installed_) return;
  arch::hosted::set_idle_hook(nullptr);
  installed_ = false;
}

bool SerialIdleHook::poll(void* self) {
  auto* h = static_cast<SerialIdleHook*>(self);
  std::size_t frames = 0;
  for (const Line& l : h->lines_) frames += l.link->poll();
  return frames != 0;
}

// Sleeps on the lines' fds instead of the futex, one slice at most; always returns false so the
// loop goes round (runs what the bytes completed, fires timers, sees wake()) and comes back.
bool SerialIdleHook::prepare_sleep(void* self) {
  auto* h = static_cast<SerialIdleHook*>(self);
  pollfd fds[16];
  nfds_t n = 0;
  for (const Line& l : h->lines_) {
    if (n == 16 || !l.port->up()) continue;
    fds[n].fd = l.port->fd();
    fds[n].events = static_cast<short>(POLLIN | (l.port->write_waiting() ? POLLOUT : 0));
    fds[n].revents = 0;
    ++n;
  }
  ++h->fd_waits_;
  if (n == 0) {
    usleep(static_cast<useconds_t>(h->slice_ms_) * 1000u);
  } else {
    ::poll(fds, n, h->slice_ms_);
  }
  return false;
}

}  // namespace ambience::hosted
