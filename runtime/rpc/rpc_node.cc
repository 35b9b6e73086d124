#include "runtime/rpc/rpc_node.hpp"

#include <algorithm>
#include <cstring>

#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/frame_allocator.hpp"
#include "kernel/net/bytes.hpp"
#include "lidl/runtime/rpc.hpp"
#include "monocypher.h"
#include "runtime/rpc/entropy.hpp"

namespace ambience::rpc {
namespace {

// Replies are built behind room for their envelope, so sending them needs no copy: the lidl
// message starts 8-aligned at kPayloadAt and the envelope (sealed: envelope and security block)
// is written just before it, the tag (sealed) right after it.
constexpr std::size_t kPayloadAt = 56;
constexpr std::size_t kEnvelopeAt = kPayloadAt - net::kEnvelopeSize;
constexpr std::size_t kSealedAt = kPayloadAt - net::kSecureBodyAt;
static_assert(kPayloadAt % 8 == 0 && kSealedAt + net::kSecureBodyAt == kPayloadAt);

class SpanMessageBuffer final : public lidl::MessageBuffer {
 public:
  explicit SpanMessageBuffer(std::span<std::byte> room) : room_(room) {}
  std::span<std::byte> prepare(std::size_t n) override {
    if (n > room_.size()) return {};
    size_ = n;
    return room_.first(n);
  }
  std::span<const std::byte> message() const override { return room_.first(size_); }

 private:
  std::span<std::byte> room_;
  std::size_t size_ = 0;
};

constexpr std::uint16_t kUnknownNode = 0xFFFF;

// A probe: a sealed request without a body (header, block, tag).
constexpr std::size_t kProbeSize = net::sealed_message_size(0);

// The tag of a sealed message (its last bytes).
std::span<const std::byte> tag_of(std::span<const std::byte> message) { return message.last(net::kAuthTagLength); }

}  // namespace

RpcNode::RpcNode(const RpcTables& tables, const RpcMemory& memory, std::uint32_t incarnation)
    : tables_(tables), memory_(memory), incarnation_(incarnation) {
  timer_node_.node = this;
  timer_node_.run = &RpcNode::on_timer;
  timer_.on_expiry = &timer_node_;
  // Node 0's principals are processes (consoles, doors), several of which may call at once.
  for (std::size_t k = 0; k < tables_.keys.size() && k < sessions_.size(); ++k) {
    const PeerKey& pair = tables_.keys[k];
    if (pair.callee_node == tables_.this_node && pair.caller_node == 0)
      sessions_[k].receiver.allow_callers(net::ReceiverSession::kMaxCallers);
  }
}

bool RpcNode::add_network(std::string_view name, std::string_view kind, Link& link, net::Reassembler& reassembler) {
  if (network_count_ == networks_.size()) return false;
  if (reassembler.max_message() < memory_.max_message) {
    // Its largest messages (sealed ones: security block and tag on top) would be dropped.
    println("ambience: network '", name, "': its reassembler holds ", reassembler.max_message(),
            " bytes, less than this node's largest message (", memory_.max_message, ")");
    return false;
  }
  Network& n = networks_[network_count_++];
  n.name = name;
  n.kind = kind;
  n.link = &link;
  n.reassembler = &reassembler;
  // Message ids start where this boot's incarnation says, so a receiver's memory of recent ids
  // from before a restart does not swallow the first messages after it.
  n.sender = net::LinkSender(link.max_fragment(), static_cast<std::uint16_t>(incarnation_));
  n.sink.node = this;
  n.sink.network = &n;
  link.attach(&n.sink);
  return true;
}

void RpcNode::register_drivers() {
  for (std::size_t i = 0; i < network_count_; ++i) node::register_network_driver(networks_[i].kind, this);
}

RpcNode::Network* RpcNode::network_named(std::string_view name) {
  for (std::size_t i = 0; i < network_count_; ++i) {
    if (networks_[i].name == name) return &networks_[i];
  }
  return nullptr;
}

std::uint16_t RpcNode::node_id(std::string_view name) const {
  for (const NodeName& n : tables_.nodes) {
    if (n.name == name) return n.id;
  }
  return kUnknownNode;
}

std::string_view RpcNode::node_name(std::uint16_t id) const {
  for (const NodeName& n : tables_.nodes) {
    if (n.id == id) return n.name;
  }
  return {};
}

const CallerName* RpcNode::caller(std::uint16_t node, std::uint16_t instance) const {
  for (const CallerName& c : tables_.callers) {
    if (c.node == node && c.instance == instance) return &c;
  }
  return nullptr;
}

// The entry of the pair (caller principal, callee node); -1 without one. Node 0's instances are
// principals of their own (console, doors); any other node's instances all call as the node.
int RpcNode::key_index(std::uint16_t caller_node, std::uint16_t caller_instance, std::uint16_t callee_node) const {
  const std::uint16_t principal = caller_node == 0 ? caller_instance : kAnyInstance;
  const std::size_t count = tables_.keys.size() < kMaxKeys ? tables_.keys.size() : kMaxKeys;
  for (std::size_t i = 0; i < count; ++i) {
    const PeerKey& k = tables_.keys[i];
    if (k.caller_node == caller_node && k.caller_instance == principal && k.callee_node == callee_node)
      return static_cast<int>(i);
  }
  return -1;
}

const net::ReceiverSession* RpcNode::receiver_session(std::uint16_t caller_node, std::uint16_t caller_instance) const {
  const int k = key_index(caller_node, caller_instance, tables_.this_node);
  return k < 0 ? nullptr : &sessions_[static_cast<std::size_t>(k)].receiver;
}

// A challenge nobody can predict without the pair key, never repeated within a boot (the counter)
// nor across boots or pairs (incarnation, key): BLAKE2b keyed with the pair key over the
// backend's entropy (hosted: getrandom; boards: timer and counter) and `seed`, the tag of the
// verified request that asked for it (empty when none did). The seed is what keeps a board's
// challenges (and so its answers' nonces) apart across two identical QEMU boots whenever the
// caller differs between them: a hosted caller's tag covers its random incarnation.
std::uint64_t RpcNode::fresh_challenge(int k, std::span<const std::byte> seed) {
  std::byte entropy[kChallengeEntropy];
  challenge_entropy(std::span<std::byte, kChallengeEntropy>(entropy));
  std::byte message[4 + kChallengeEntropy + 8 + 2 + net::kAuthTagLength] = {};
  net::detail::store_le<std::uint32_t>(message, incarnation_);
  std::memcpy(message + 4, entropy, sizeof entropy);
  net::detail::store_le<std::uint64_t>(message + 4 + kChallengeEntropy, ++challenges_drawn_);
  net::detail::store_le<std::uint16_t>(message + 12 + kChallengeEntropy, static_cast<std::uint16_t>(k));
  if (seed.size() == net::kAuthTagLength) std::memcpy(message + 14 + kChallengeEntropy, seed.data(), seed.size());
  std::uint8_t hash[8];
  const net::PairKey& pair = key(k);
  crypto_blake2b_keyed(hash, sizeof hash, pair.data(), pair.size(), reinterpret_cast<const std::uint8_t*>(message),
                       sizeof message);
  const std::uint64_t c = net::detail::load_le<std::uint64_t>(reinterpret_cast<const std::byte*>(hash));
  crypto_wipe(entropy, sizeof entropy);
  crypto_wipe(message, sizeof message);
  crypto_wipe(hash, sizeof hash);
  return c != 0 ? c : 1;  // 0 means "none" on the wire
}

// The challenge this node's answers to the pair carry; drawn at the first need after a boot.
std::uint64_t RpcNode::current_challenge(int k) {
  net::ReceiverSession& r = sessions_[static_cast<std::size_t>(k)].receiver;
  if (r.challenge() == 0) r.issue(fresh_challenge(k));
  return r.challenge();
}

RpcNode::PendingCall* RpcNode::pending_for(std::uint64_t call_id, std::uint16_t callee) {
  for (std::size_t slot = 0; slot < memory_.slot_sending.size(); ++slot) {
    const net::CallTable::Call& c = memory_.calls->call(static_cast<int>(slot));
    if (c.in_flight && c.call_id == call_id && c.destination == callee) return static_cast<PendingCall*>(c.context);
  }
  return nullptr;
}

// A sealed request of this node again, into `copy` (a forward buffer), with a new seq and the
// pair's current challenge (a re-send must not be a replay, and after a resync it must carry the
// new challenge). A call sealed with its body: copied, decrypted in place (our own message: its
// tag verifies) and sealed again. A call that went out as a probe: its body is taken in clear from
// behind the probe, and sealed with it only once there is a challenge (else a probe again).
// Returns the message's size.
Result<std::size_t> RpcNode::reseal(const PendingCall& pending, std::span<std::byte> copy) {
  const int k = pending.key;
  KeyState& state = sessions_[static_cast<std::size_t>(k)];
  if (pending.in_clear) {
    net::DecodedEnvelope d;  // the probe: the header of every seal of this call
    if (net::decode_envelope(pending.message.first(kProbeSize), d) != net::EnvelopeError::none) return Status::internal;
    const net::SecurityBlock block = state.caller.next();
    const std::size_t body = block.challenge != 0 ? pending.message.size() - kProbeSize : 0;
    if (net::sealed_message_size(body) > copy.size()) return Status::internal;
    if (body != 0) std::memcpy(copy.data() + net::kSecureBodyAt, pending.message.data() + kProbeSize, body);
    const PeerKey& pair = tables_.keys[static_cast<std::size_t>(k)];
    return net::seal(d.header, block, pair.encrypt, pair.key, copy, body);
  }
  if (pending.message.size() > copy.size()) return Status::internal;
  std::memcpy(copy.data(), pending.message.data(), pending.message.size());
  const std::span<std::byte> message = copy.first(pending.message.size());
  net::DecodedEnvelope d;
  if (net::decode_envelope(message, d) != net::EnvelopeError::none) return Status::internal;
  const std::size_t body = d.payload.size() - net::kSecurityBlockSize;
  const std::span<std::byte> body_bytes = message.subspan(net::kSecureBodyAt, body);
  net::OpenedMessage o;
  if (net::open(d, message, key(k), body_bytes, o) != net::OpenError::none) return Status::internal;
  return net::seal(d.header, state.caller.next(), d.header.encrypted(), key(k), message, body);
}

bool RpcNode::granted(std::uint16_t object_id, std::string_view caller, std::uint16_t procedure) const {
  for (const node::ServedObject& o : tables_.served) {
    if (o.object_id != object_id) continue;
    for (const node::RemoteGrant& g : o.grants) {
      if (g.caller == caller) return g.grant.allows(procedure);
    }
    return false;
  }
  return true;  // no such object: node::serve answers not_found
}

// The first hop's network kind decides the defaults; the manifest's timeout of the dependency,
// when it has one, replaces the deadline (re-sends keep their back-off, within that deadline).
net::CallPolicy RpcNode::policy(const Network& n, const node::Route& route) const {
  net::CallPolicy p = net::default_policy(n.kind == "serial" ? net::NetworkKind::serial : net::NetworkKind::udp);
  if (route.timeout_us != 0) p.timeout_us = route.timeout_us;
  return p;
}

// ------------------------------------------------------------------ calls from this node

Task<Status> RpcNode::call(const node::Route& route, std::span<const std::byte> request, lidl::MessageBuffer& reply) {
  Network* n = network_named(route.network);
  const std::uint16_t destination = node_id(route.target_node);
  if (n == nullptr || destination == kUnknownNode) {
    ++counters_.no_route;
    co_return Status::unavailable;
  }
  Result<Peer> peer = n->link->resolve(route.next_address, route.next_port);
  if (!peer.ok()) {
    ++counters_.no_route;
    co_return Status::unavailable;
  }
  lidl::Header header;
  if (!header.read(request)) co_return Status::bad_message;
  const int k = sealed() ? key_index(tables_.this_node, kAnyInstance, destination) : -1;
  if (sealed() && k < 0) co_return Status::access_denied;  // the plan gave this node no key for it
  const std::size_t size_on_wire =
      k >= 0 ? net::sealed_message_size(request.size()) : net::envelope_message_size(request.size());
  if (size_on_wire > memory_.max_message) co_return Status::no_memory;
  PendingCall pending;
  pending.reply = &reply;
  pending.network = n;
  pending.peer = peer.value();
  pending.key = k;
  // Only @idempotent procedures are re-sent (the plan's mask): any other's body is sent once, so
  // it runs at most once whatever the link does; a lost request ends in timeout.
  const bool idempotent = header.procedure < 64 && ((route.idempotent >> header.procedure) & 1u) != 0;
  // A probe (below) carries no body, so nothing can run it: until the body goes out, any call is
  // re-sent like an idempotent one (a lost probe or resync answer must not cost the call).
  const bool probe = k >= 0 && sessions_[static_cast<std::size_t>(k)].caller.challenge() == 0;
  const std::uint64_t now = arch::now_us();
  Result<net::CallTable::Started> started =
      memory_.calls->start(destination, idempotent || probe, policy(*n, route), now, &pending);
  if (!started.ok()) co_return started.status();
  ++counters_.calls;
  const int slot = started.value().slot;
  pending.slot = slot;
  pending.idempotent = idempotent;
  // A slot whose previous call ended while its first send was still on the line keeps its buffer
  // until that send is done: refuse for now (back-pressure) rather than overwrite bytes in flight.
  bool& sending = memory_.slot_sending[static_cast<std::size_t>(slot)];
  if (sending) {
    memory_.calls->cancel(slot);
    co_return Status::would_block;
  }
  net::Envelope e;
  e.kind = net::EnvelopeKind::request;
  e.flags = idempotent ? net::kFlagIdempotent : std::uint16_t{0};
  e.call_id = started.value().call_id;
  e.sender_incarnation = incarnation_;
  e.source_node = tables_.this_node;
  e.destination_node = destination;
  e.caller_instance = route.caller_instance;
  e.target_instance = route.object_id;
  e.procedure = header.procedure;
  const std::span<std::byte> room =
      memory_.call_messages.subspan(static_cast<std::size_t>(slot) * memory_.max_message, memory_.max_message);
  Result<std::size_t> size = Status::internal;
  if (k >= 0) {
    const PeerKey& pair = tables_.keys[static_cast<std::size_t>(k)];
    net::CallerSession& session = sessions_[static_cast<std::size_t>(k)].caller;
    if (session.challenge() == 0) {
      // No challenge yet (this boot has had no verified answer from the callee): the request's
      // nonce would hold nothing fresh, so a probe goes out (the header, no body) and the body
      // waits in clear behind it until the resync brings a challenge (reseal()). The room holds
      // both: kProbeSize + the body = the sealed request's size, checked above.
      std::memcpy(room.data() + kProbeSize, request.data(), request.size());
      size = net::seal(e, session.next(), pair.encrypt, pair.key, room, 0);
      if (size.ok()) size = kProbeSize + request.size();
      pending.in_clear = true;
    } else {
      std::memcpy(room.data() + net::kSecureBodyAt, request.data(), request.size());
      size = net::seal(e, session.next(), pair.encrypt, pair.key, room, request.size());
    }
  } else {
    size = net::encode_envelope(e, request, room);
  }
  if (!size.ok()) {
    memory_.calls->cancel(slot);
    co_return size.status();
  }
  pending.message = room.first(size.value());
  arm_timer();
  sending = true;
  const Status sent =
      co_await send_message(*n, pending.peer, pending.in_clear ? room.first(kProbeSize) : pending.message);
  sending = false;
  if (sent != Status::ok && !pending.done.done()) {
    memory_.calls->cancel(slot);
    co_return sent;
  }
  co_return co_await pending.done;
}

void RpcNode::finish(const net::CallTable::Finished& f) {
  auto* pending = static_cast<PendingCall*>(f.context);
  if (pending != nullptr && !pending->done.done()) pending->done.complete(f.status);
}

// A re-send goes out of its own copy: on a slow line its frames may still be leaving when the
// call ends and its slot is reused by the next call.
void RpcNode::resend(void* context) {
  auto* pending = static_cast<PendingCall*>(context);
  if (pending == nullptr) return;
  const int buffer = pending->message.size() <= memory_.max_message ? take_forward_buffer() : -1;
  if (buffer < 0) return;  // counted; the call retries later or times out
  Result<std::size_t> size = pending->message.size();
  if (pending->key >= 0) {
    size = reseal(*pending, forward_buffer(buffer));
  } else {
    std::memcpy(forward_buffer(buffer).data(), pending->message.data(), pending->message.size());
  }
  if (!size.ok()) {
    forward_in_use_[static_cast<std::size_t>(buffer)] = false;
    return;
  }
  // The body goes out with this send: a call that is not idempotent is sent this once.
  if (!pending->idempotent && (!pending->in_clear || size.value() != kProbeSize)) {
    memory_.calls->send_no_more(pending->slot);
  }
  if (spawn(send_task(pending->network, pending->peer, forward_buffer(buffer).first(size.value()), buffer)) !=
      Status::ok) {
    forward_in_use_[static_cast<std::size_t>(buffer)] = false;
    ++counters_.dropped_no_memory;
  }
}

// The callee did not run the call (no session with this node's incarnation, its challenge
// changed, or the call went out as a probe): the same call again, re-sealed with the challenge
// the resync error brought. Bounded: the resync after kMaxResyncs re-seals ends the call
// (on_sealed_answer). Returns whether it re-sealed.
bool RpcNode::resync(PendingCall& pending) {
  if (pending.resyncs >= kMaxResyncs) return false;
  ++pending.resyncs;
  resend(&pending);
  return true;
}

// `body`: the reply's lidl message; in_reply_buffer: it was decrypted into the call's reply
// buffer already.
void RpcNode::on_reply(const net::Envelope& e, std::span<const std::byte> body, bool in_reply_buffer) {
  const Status status = e.kind == net::EnvelopeKind::reply ? Status::ok : net::from_wire(e.status);
  auto finished = memory_.calls->on_reply(e.call_id, e.source_node, status, arch::now_us());
  if (!finished) return;
  ++counters_.replies;
  auto* pending = static_cast<PendingCall*>(finished->context);
  Status result = finished->status;
  if (result == Status::ok && !in_reply_buffer) {
    std::span<std::byte> out = pending->reply->prepare(body.size());
    if (out.size() != body.size()) {
      result = Status::no_memory;
    } else if (!body.empty()) {
      std::memcpy(out.data(), body.data(), body.size());
    }
  }
  if (!pending->done.done()) pending->done.complete(result);
}

// ------------------------------------------------------------------ what arrives

std::size_t RpcNode::poll() {
  std::size_t frames = 0;
  for (std::size_t i = 0; i < network_count_; ++i) frames += networks_[i].link->poll();
  const std::uint64_t now = arch::now_us();
  memory_.calls->poll(
      now, [this](const net::CallTable::Finished& f) { finish(f); },
      [this](int, std::uint64_t, void* context) { resend(context); });
  for (std::size_t i = 0; i < network_count_; ++i) networks_[i].reassembler->expire(now);
  memory_.replies->expire(now);
  report_refusals(now);
  report_memory(now);
  arm_timer();
  return frames;
}

void RpcNode::report_refusals(std::uint64_t now) {
  const std::array<std::uint32_t, 5> counts = {counters_.auth_failures, counters_.replays, counters_.resyncs,
                                               counters_.denied, counters_.unauthenticated};
  const bool was_pending = refusal_pacing_.pending;
  if (!refusal_pacing_.due(now, counts != refusals_reported_)) {
    if (refusal_pacing_.pending && !was_pending) arm_timer();  // logged even if nothing else happens
    return;
  }
  println("ambience: rpc refusals auth_failures=", counts[0], " replays=", counts[1], " resyncs=", counts[2],
          " denied=", counts[3], " unauthenticated=", counts[4]);
  refusals_reported_ = counts;
}

// Called from poll() only, which arms the timer after it.
void RpcNode::report_memory(std::uint64_t now) {
  const FrameStats f = FrameAllocator::instance().stats();
  const bool changed = f.peak_live_bytes != memory_reported_peak_ || f.failures != memory_reported_failures_;
  if (!memory_pacing_.due(now, changed)) return;
  println("ambience: memory frames_peak=", f.peak_live_bytes, " frames_live=", f.live_bytes,
          " frames_arena=", f.arena_bytes, " frame_failures=", f.failures);
  memory_reported_peak_ = f.peak_live_bytes;
  memory_reported_failures_ = f.failures;
}

void RpcNode::Sink::on_frame(Peer from, const net::LinkFrame& frame) {
  std::optional<net::ReassembledMessage> m = network->reassembler->accept(from.id, frame, arch::now_us());
  if (!m) return;
  node->on_message(*network, from, m->bytes);
  network->reassembler->release(*m);
}

void RpcNode::on_message(Network& n, Peer from, std::span<const std::byte> message) {
  handle_message(n, from, message);
  report_refusals(arch::now_us());
}

void RpcNode::handle_message(Network& n, Peer from, std::span<const std::byte> message) {
  net::DecodedEnvelope e;
  if (net::decode_envelope(message, e) != net::EnvelopeError::none) {
    ++counters_.bad_envelopes;
    return;
  }
  if (e.header.destination_node != tables_.this_node) {
    forward(message, e);
    return;
  }
  if (sealed()) {
    if (!e.header.authenticated()) {
      ++counters_.unauthenticated;
      return;
    }
    if (e.header.kind == net::EnvelopeKind::request) {
      on_sealed_request(n, from, message, e);
    } else {
      on_sealed_answer(message, e);
    }
    return;
  }
  if (e.header.authenticated()) {  // this node holds no keys: nothing to verify it with
    ++counters_.auth_failures;
    return;
  }
  watch_incarnation(e.header.source_node, e.header.sender_incarnation);
  if (e.header.kind == net::EnvelopeKind::request) {
    on_request(n, from, e.header, e.payload, -1);
  } else {
    on_reply(e.header, e.payload, false);
  }
}

// Tag, then replay window and challenge, then the capability; only then the reply cache and the
// served object. Encrypted bodies are decrypted into a forward buffer, held until the request is
// copied for serving (it may still be refused, and the serving buffer belongs to the reply
// cache's entry, which only exists once admitted).
void RpcNode::on_sealed_request(Network& n, Peer from, std::span<const std::byte> message,
                                const net::DecodedEnvelope& e) {
  const int k = key_index(e.header.source_node, e.header.caller_instance, tables_.this_node);
  if (k < 0) {
    ++counters_.auth_failures;
    return;
  }
  int scratch = -1;
  std::span<std::byte> plain;
  if (e.header.encrypted() && e.payload.size() > net::kSecurityBlockSize) {  // a probe has nothing to decrypt
    scratch = take_forward_buffer();
    if (scratch < 0) return;  // counted; the caller re-sends or times out
    plain = forward_buffer(scratch);
  }
  const auto release = [&] {
    if (scratch >= 0) forward_in_use_[static_cast<std::size_t>(scratch)] = false;
  };
  net::OpenedMessage o;
  if (net::open(e, message, key(k), plain, o) != net::OpenError::none) {
    ++counters_.auth_failures;
    release();
    return;
  }
  net::ReceiverSession& session = sessions_[static_cast<std::size_t>(k)].receiver;
  switch (session.check(e.header.sender_incarnation, o.block)) {
    case net::ReceiverSession::Verdict::replay:
      ++counters_.replays;
      release();
      return;
    case net::ReceiverSession::Verdict::resync:
      ++counters_.resyncs;
      if (session.challenge() == 0) session.issue(fresh_challenge(k, tag_of(message)));
      answer(n, from, e.header, Status::unavailable, {}, k, true);
      release();
      return;
    case net::ReceiverSession::Verdict::established:
      session.issue(fresh_challenge(k, tag_of(message)));  // the next session needs one nobody has seen
      break;
    case net::ReceiverSession::Verdict::accept: break;
  }
  // Only now: a replayed request verifies too, and must not make the caller's old boot current.
  watch_incarnation(e.header.source_node, e.header.sender_incarnation);
  const CallerName* who = caller(e.header.source_node, e.header.caller_instance);
  lidl::Header lidl_header;
  if (who == nullptr) ++counters_.unknown_callers;
  if (who == nullptr || !granted(e.header.target_instance, who->name, e.header.procedure) ||
      !lidl_header.read(o.body) || lidl_header.procedure != e.header.procedure) {
    ++counters_.denied;
    answer(n, from, e.header, Status::access_denied, {}, k);
    release();
    return;
  }
  on_request(n, from, e.header, o.body, k);
  release();
}

// A reply or error for a call of this node. Encrypted replies are decrypted straight into the
// call's reply buffer (nothing is written there unless the tag verifies); a reply no call waits
// for is dropped unopened.
void RpcNode::on_sealed_answer(std::span<const std::byte> message, const net::DecodedEnvelope& e) {
  const int k = key_index(tables_.this_node, kAnyInstance, e.header.source_node);
  if (k < 0) {
    ++counters_.auth_failures;
    return;
  }
  PendingCall* pending = pending_for(e.header.call_id, e.header.source_node);
  const std::size_t body = e.payload.size() - net::kSecurityBlockSize;
  std::span<std::byte> plain;
  const bool into_reply = e.header.kind == net::EnvelopeKind::reply && e.header.encrypted();
  if (into_reply) {
    if (pending == nullptr) return;
    plain = pending->reply->prepare(body);
    if (plain.size() != body) return;  // too large for the caller's buffer: left to the deadline
  }
  net::OpenedMessage o;
  if (net::open(e, message, key(k), plain, o) != net::OpenError::none) {
    ++counters_.auth_failures;
    return;
  }
  sessions_[static_cast<std::size_t>(k)].caller.on_verified_answer(o.block);
  // A peer's incarnation is believed from answers to calls in flight only: call ids are unique to
  // this boot, so a replayed answer of the callee's earlier boot matches none.
  if (e.header.kind == net::EnvelopeKind::error && e.header.status == net::WireStatus::resync) {
    if (pending == nullptr) return;
    // A copy of a resync answer this call already re-sealed for (a duplicating link), or the
    // same answer again to a copy of the probe: re-sealing again would send a second sealed
    // request, and the copies would use up the re-seals and end the call `unavailable` while the
    // callee runs it. One re-seal per distinct answer; a callee that rebooted meanwhile answers
    // with another challenge, which counts.
    for (int i = 0; i < pending->resyncs; ++i) {
      const net::SecurityBlock& seen = pending->resynced[static_cast<std::size_t>(i)];
      if (seen.seq == o.block.seq && seen.challenge == o.block.challenge) return;
    }
    if (pending->resyncs < kMaxResyncs) pending->resynced[static_cast<std::size_t>(pending->resyncs)] = o.block;
    if (resync(*pending)) {
      // The callee may have rebooted; the resynced call it certainly did not run stays.
      watch_incarnation(e.header.source_node, e.header.sender_incarnation, e.header.call_id);
      return;
    }
    // A callee that refused every re-seal: the call ends now, not at its deadline, with
    // from_wire(resync) = unavailable (it never ran; nothing serves it a session).
  }
  // The answered call ends first: whatever the peer's incarnation, its outcome is this answer.
  on_reply(e.header, o.body, into_reply);
  if (pending != nullptr) watch_incarnation(e.header.source_node, e.header.sender_incarnation);
}

void RpcNode::watch_incarnation(std::uint16_t node, std::uint32_t incarnation, std::uint64_t spare_call_id) {
  PeerLife* free = nullptr;
  for (PeerLife& p : peers_) {
    if (p.used && p.node == node) {
      if (p.incarnation != incarnation) {
        p.incarnation = incarnation;
        ++counters_.peer_restarts;
        memory_.calls->destination_failed(
            node, Status::peer_restarted, arch::now_us(), [this](const net::CallTable::Finished& f) { finish(f); },
            [this](int, std::uint64_t, void* context) { resend(context); }, spare_call_id);
      }
      return;
    }
    if (!p.used && free == nullptr) free = &p;
  }
  if (free != nullptr) *free = PeerLife{node, incarnation, true};
}

std::span<std::byte> RpcNode::serve_request_buffer(int entry) {
  const std::size_t stride = 2 * memory_.max_message + kServeReplySlack;
  return memory_.serve_buffers.subspan(static_cast<std::size_t>(entry) * stride, memory_.max_message);
}

std::span<std::byte> RpcNode::serve_reply_buffer(int entry) {
  const std::size_t stride = 2 * memory_.max_message + kServeReplySlack;
  return memory_.serve_buffers.subspan(static_cast<std::size_t>(entry) * stride + memory_.max_message,
                                       memory_.max_message + kServeReplySlack);
}

// A request for this node, opened and checked (sealed: k >= 0) or plain (k = -1); `body` is its
// lidl message.
void RpcNode::on_request(Network& n, Peer from, const net::Envelope& e, std::span<const std::byte> body, int k) {
  ++counters_.requests;
  const net::ReplyCache::Admission a = memory_.replies->admit(e.source_node, e.call_id, arch::now_us());
  switch (a.verdict) {
    case net::ReplyCache::Verdict::execute: {
      const std::span<std::byte> in = serve_request_buffer(a.entry);
      if (body.size() > in.size()) {
        memory_.replies->complete(a.entry, Status::no_memory, {}, arch::now_us());
        answer(n, from, e, Status::no_memory, {}, k);
        return;
      }
      if (!body.empty()) std::memcpy(in.data(), body.data(), body.size());
      if (spawn(serve_task(&n, from, e, a.entry, body.size(), k)) != Status::ok) {
        ++counters_.dropped_no_memory;
        memory_.replies->complete(a.entry, Status::no_memory, {}, arch::now_us());
      }
      return;
    }
    case net::ReplyCache::Verdict::replay: answer(n, from, e, a.status, a.reply, k); return;
    case net::ReplyCache::Verdict::busy: answer(n, from, e, Status::would_block, {}, k); return;
    case net::ReplyCache::Verdict::in_progress:
    case net::ReplyCache::Verdict::forgotten: return;
  }
}

// An answer to `request` (status ok: a reply with `payload`, else an error; `resync`: the
// resync error, which exists only sealed), sent from a forward buffer.
void RpcNode::answer(Network& n, Peer to, const net::Envelope& request, Status status,
                     std::span<const std::byte> payload, int k, bool resync) {
  net::Envelope e = net::reply_to(request, status, incarnation_);
  if (resync) {
    e.kind = net::EnvelopeKind::error;
    e.status = net::WireStatus::resync;
  }
  (void)spawn(answer_task(&n, to, e, payload, k));
}

Task<void> RpcNode::serve_task(Network* n, Peer from, net::Envelope request, int entry, std::size_t payload, int k) {
  const std::span<const std::byte> in = serve_request_buffer(entry).first(payload);
  const std::span<std::byte> out_room = serve_reply_buffer(entry);
  // As large as a request's lidl message may be: sealed, it is max_message bytes on the wire.
  SpanMessageBuffer reply(out_room.subspan(kPayloadAt, memory_.max_message - net::sealed_message_size(0)));
  Status s;
  const CallerName* who = caller(request.source_node, request.caller_instance);
  if (who == nullptr) {
    ++counters_.unknown_callers;
    s = Status::access_denied;
  } else {
    s = co_await node::serve(tables_.served, request.target_instance, who->name, in, reply);
  }
  const std::span<const std::byte> result = s == Status::ok ? reply.message() : std::span<const std::byte>{};
  memory_.replies->complete(entry, s, result, arch::now_us());
  // The envelope goes just before the payload the service wrote: one contiguous message.
  const net::Envelope e = net::reply_to(request, s, incarnation_);
  if (k >= 0) {
    // An error has no body: the block is all that follows its header.
    const std::size_t body = s == Status::ok ? result.size() : 0;
    const PeerKey& pair = tables_.keys[static_cast<std::size_t>(k)];
    net::ReceiverSession& session = sessions_[static_cast<std::size_t>(k)].receiver;
    const net::SecurityBlock block{session.next_answer_seq(), current_challenge(k)};
    Result<std::size_t> size = net::seal(e, block, pair.encrypt, pair.key, out_room.subspan(kSealedAt), body);
    if (!size.ok()) co_return;
    (void)co_await send_message(*n, from, out_room.subspan(kSealedAt, size.value()));
    co_return;
  }
  Result<std::size_t> head = net::encode_envelope_header(e, result.size(), out_room.subspan(kEnvelopeAt));
  if (!head.ok()) co_return;
  (void)co_await send_message(*n, from, out_room.subspan(kEnvelopeAt, net::kEnvelopeSize + result.size()));
}

Task<void> RpcNode::answer_task(Network* n, Peer to, net::Envelope reply, std::span<const std::byte> payload, int k) {
  // Small (errors, or a replay of a stored reply): encoded into a forward buffer.
  const int buffer = take_forward_buffer();
  if (buffer < 0) co_return;
  const std::span<std::byte> room = forward_buffer(buffer);
  Result<std::size_t> size = Status::internal;
  if (k >= 0) {
    // Errors (the resync error among them) carry the block alone: for a resync, the challenge
    // the caller must bring.
    const std::size_t body = reply.kind == net::EnvelopeKind::reply ? payload.size() : 0;
    if (net::kSecureBodyAt + body <= room.size() && body != 0)
      std::memcpy(room.data() + net::kSecureBodyAt, payload.data(), body);
    const PeerKey& pair = tables_.keys[static_cast<std::size_t>(k)];
    net::ReceiverSession& session = sessions_[static_cast<std::size_t>(k)].receiver;
    const net::SecurityBlock block{session.next_answer_seq(), current_challenge(k)};
    size = net::seal(reply, block, pair.encrypt, pair.key, room, body);
  } else {
    size = net::encode_envelope(reply, payload, room);
  }
  if (size.ok()) {
    co_await send_task(n, to, room.first(size.value()), buffer);
  } else {
    forward_in_use_[static_cast<std::size_t>(buffer)] = false;
  }
}

// ------------------------------------------------------------------ forwarding

void RpcNode::forward(std::span<const std::byte> message, const net::DecodedEnvelope& e) {
  const node::NextHop* hop = node::next_hop(tables_.next_hops, node_name(e.header.destination_node));
  Network* n = hop != nullptr ? network_named(hop->via.network) : nullptr;
  Result<Peer> peer =
      n != nullptr ? n->link->resolve(hop->via.next_address, hop->via.next_port) : Result<Peer>(Status::unavailable);
  if (!peer.ok()) {
    ++counters_.no_route;
    return;
  }
  // The message lives in a reassembly slot or a frame only until we return: copy it.
  const int buffer = message.size() <= memory_.max_message ? take_forward_buffer() : -1;
  if (buffer < 0) return;
  const std::span<std::byte> room = forward_buffer(buffer).first(message.size());
  std::memcpy(room.data(), message.data(), message.size());
  ++counters_.forwarded;
  if (spawn(send_task(n, peer.value(), room, buffer)) != Status::ok) {
    forward_in_use_[static_cast<std::size_t>(buffer)] = false;
    ++counters_.dropped_no_memory;
  }
}

int RpcNode::take_forward_buffer() {
  const std::size_t count = memory_.forward_buffers.size() / memory_.max_message;
  for (std::size_t i = 0; i < count && i < forward_in_use_.size(); ++i) {
    if (!forward_in_use_[i]) {
      forward_in_use_[i] = true;
      return static_cast<int>(i);
    }
  }
  ++counters_.dropped_no_memory;
  return -1;
}

std::span<std::byte> RpcNode::forward_buffer(int buffer) {
  return memory_.forward_buffers.subspan(static_cast<std::size_t>(buffer) * memory_.max_message, memory_.max_message);
}

// ------------------------------------------------------------------ sending

Task<Status> RpcNode::send_message(Network& n, Peer to, std::span<const std::byte> message) {
  Result<net::LinkSender::Fragments> fragments = n.sender.fragments(message);
  if (!fragments.ok()) co_return fragments.status();
  net::LinkHeader h;
  std::span<const std::byte> payload;
  while (fragments.value().next(h, payload)) {
    const Status s = co_await n.link->send(to, h, payload);
    if (s != Status::ok) co_return s;
  }
  co_return Status::ok;
}

Task<void> RpcNode::send_task(Network* n, Peer to, std::span<const std::byte> message, int forward_buffer) {
  (void)co_await send_message(*n, to, message);
  if (forward_buffer >= 0) forward_in_use_[static_cast<std::size_t>(forward_buffer)] = false;
}

// ------------------------------------------------------------------ time

void RpcNode::arm_timer() {
  std::uint64_t next = memory_.calls->next_wakeup_us();
  next = std::min({next, refusal_pacing_.wakeup(), memory_pacing_.wakeup()});
  if (next == ~std::uint64_t{0}) {
    Scheduler::current().cancel(timer_);
    return;
  }
  if (timer_.armed && timer_.deadline_us == next) return;
  timer_.deadline_us = next;
  Scheduler::current().arm(timer_);
}

void RpcNode::on_timer(Runnable* r) { static_cast<TimerNode*>(r)->node->poll(); }

}  // namespace ambience::rpc
