#include "deployments/hello/tests/mcu_capabilities/prober.hpp"

#include <cstddef>
#include <span>
#include <string>

#include "kernel/arch/cortex_m/groups.hpp"
#include "kernel/arch/cortex_m/syscalls.hpp"
#include "kernel/core/console.hpp"
#include "lidl/runtime/rpc.hpp"
#include "runtime/cortex_m/mcu_group.hpp"

namespace mcucap {
namespace {

namespace mcu = ::ambience::mcu;
using ::ambience::Status;

// One call system call with the caller's own descriptor; waits (yielding) until the kernel
// completes it. Declined: the kernel would route it over the ring instead.
Status raw_call(std::uint16_t method, const std::byte* arg, std::uint32_t arg_len) {
  alignas(8) std::byte result[mcu::kGroupRing.payload_bytes];
  mcu::DirectCall d{};
  d.instance_method = ProberService::kStoreInstance | (std::uint32_t{method} << 16);
  d.arg = reinterpret_cast<std::uint32_t>(arg);
  d.arg_len = arg_len;
  d.result = reinterpret_cast<std::uint32_t>(result);
  d.result_cap = sizeof result;
  d.done = 0;
  if (mcu::sys::call_direct(&d) != mcu::kDirectAccepted) return Status::unavailable;
  for (int spins = 0; d.done == 0 && spins < 1000; ++spins) mcu::sys::yield();
  return d.done != 0 ? static_cast<Status>(d.status) : Status::timeout;
}

// Store.write(kRogueValue) as a typed call: method = the procedure id, the parameters encoded.
Status typed_write() {
  const std::uint32_t value = ProberService::kRogueValue;
  const Store_write_Args args{&value};
  alignas(8) std::byte arg[mcu::kGroupRing.payload_bytes];
  const std::size_t n = ::ambience::lidl::encode(args, std::span<std::byte>(arg));
  return raw_call(Store::procedures[1].id, arg, static_cast<std::uint32_t>(n));
}

// The same as a lidl request message (envelope with Store's schema hash and procedure id).
Status message_write() {
  const std::uint32_t value = ProberService::kRogueValue;
  const Store_write_Args args{&value};
  alignas(8) std::byte message[mcu::kGroupRing.payload_bytes];
  ::ambience::lidl::Header header;
  header.kind = ::ambience::lidl::kKindRequest;
  header.procedure = Store::procedures[1].id;
  header.schema_hash = Store::schema_hash;
  header.call_id = 1;
  header.write(message);
  const std::size_t n = ::ambience::lidl::encode(
      args,
      std::span<std::byte>(message + ::ambience::lidl::kHeaderSize, sizeof message - ::ambience::lidl::kHeaderSize));
  return raw_call(::ambience::node::kLidlMessageMethod, message,
                  static_cast<std::uint32_t>(::ambience::lidl::kHeaderSize + n));
}

void say(const std::string& line) { ::ambience::print(std::string_view("[prober] " + line + "\n")); }

}  // namespace

::ambience::Task<void> ProberService::start() {
  static_assert(Store::procedures[1].id == 1 && std::string_view(Store::procedures[1].name) == "write");
  const std::uint32_t before = co_await store_.read();
  say("read granted: " + std::to_string(before));
  say(std::string("write as a typed call: ") + ::ambience::to_string(typed_write()));
  say(std::string("write as a lidl message: ") + ::ambience::to_string(message_write()));
  const std::uint32_t after = co_await store_.read();
  say(after == kRogueValue ? "the store took the rogue value" : "the store never took the rogue value");
}

}  // namespace mcucap
