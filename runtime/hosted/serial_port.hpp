// The serial-link byte port of a hosted node (runtime/rpc/serial_link.hpp): the line of a serial
// network as the cluster runner hands it over, `--serial NETWORK=PATH`, where PATH is
//   - a unix-domain stream socket (QEMU's `-serial unix:PATH,server=on`, or the runner's link
//     emulator): connected to; or
//   - a tty or pty (e.g. /dev/pts/N of the runner's `socat`/openpty pair, a USB serial adapter):
//     opened and put in raw mode (no echo, no line editing, no CR/LF or 0x00 translation, 8 bits).
// The fd is non-blocking; nothing here blocks the node's loop.
//
// Waking the loop: until the hosted arch layer can wait on fds, the loop finds the line's bytes
// through its idle hook (SerialIdleHook below): the hook's poll() runs SerialLink::poll(), and
// instead of the futex sleep it waits in poll(2) on the fd for at most one slice. The seam for
// the generic fd hook is HostedSerialPort::fd(): on POLLIN call SerialLink::poll(); while
// write_waiting(), on POLLOUT resume the writer (today it retries on a kWriteRetryUs timer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/arch/hosted_linux/hosted.hpp"
#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"
#include "runtime/rpc/serial_link.hpp"

namespace ambience::hosted {

// One `--serial NETWORK=PATH` argument.
struct SerialArgument {
  std::string network;
  std::string path;
};
// bad_message if `text` is not NETWORK=PATH with both parts non-empty.
Result<SerialArgument> parse_serial_argument(std::string_view text);

class HostedSerialPort final : public rpc::BytePort {
 public:
  // While the TX side is full, a write retries after this long (until an fd hook wakes it on
  // POLLOUT). 200 us is ~2 bytes at 115200 baud: the writer never waits much beyond the line.
  static constexpr std::uint64_t kWriteRetryUs = 200;

  // Opens PATH as described above. not_found: no such path; unavailable: nobody listens on the
  // socket, or the device cannot be opened / configured.
  static Result<std::unique_ptr<HostedSerialPort>> open(const std::string& path);

  // Adopts a connected stream fd (socketpair end, pty master, accepted socket); closes it on
  // destruction. Sets O_NONBLOCK.
  explicit HostedSerialPort(int fd);
  ~HostedSerialPort();
  HostedSerialPort(const HostedSerialPort&) = delete;
  HostedSerialPort& operator=(const HostedSerialPort&) = delete;

  Task<Status> write(std::span<const std::byte> bytes) override;
  std::size_t read(std::span<std::byte> out) override;

  int fd() const { return fd_; }
  // False once the other end closed (EOF, EPIPE, ECONNRESET, EIO of a pty whose master closed).
  bool up() const { return up_; }
  bool write_waiting() const { return write_waiting_; }
  std::uint64_t write_waits() const { return write_waits_; }

 private:
  int fd_;
  bool socket_ = false;  // send() with MSG_NOSIGNAL; a tty takes write()
  bool up_ = true;
  bool write_waiting_ = false;
  std::uint64_t write_waits_ = 0;
};

// The interim loop integration (see the file comment): an arch IdleHook that polls the given
// serial links and sleeps in poll(2) on their fds, `slice_ms` at most, so received bytes end the
// sleep at once and timers and wake() from other threads are seen within one slice. Install it
// on a process whose loop has no other idle hook (a hosted node's supervisor installs its own;
// there the node's hook or the fd hook must call SerialLink::poll()).
class SerialIdleHook {
 public:
  explicit SerialIdleHook(int slice_ms = 1);
  ~SerialIdleHook();
  SerialIdleHook(const SerialIdleHook&) = delete;
  SerialIdleHook& operator=(const SerialIdleHook&) = delete;

  void add(rpc::SerialLink& link, HostedSerialPort& port);
  void install();    // arch::hosted::set_idle_hook(this hook)
  void uninstall();  // set_idle_hook(nullptr) if it is ours

  std::uint64_t fd_waits() const { return fd_waits_; }

 private:
  static bool poll(void* self);
  static bool prepare_sleep(void* self);
  static void end_sleep(void*) {}
  struct Line {
    rpc::SerialLink* link;
    HostedSerialPort* port;
  };
  std::vector<Line> lines_;
  int slice_ms_;
  bool installed_ = false;
  std::uint64_t fd_waits_ = 0;
  arch::hosted::IdleHook hook_;
};

}  // namespace ambience::hosted
