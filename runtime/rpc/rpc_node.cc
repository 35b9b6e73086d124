#include "runtime/rpc/rpc_node.hpp"

#include <cstring>

#include "kernel/core/arch.hpp"
#include "lidl/runtime/rpc.hpp"

namespace ambience::rpc {
namespace {

// Replies are built behind room for their envelope, so sending them needs no copy: the lidl
// message starts 8-aligned at kPayloadAt and the envelope is written just before it.
constexpr std::size_t kPayloadAt = 40;
constexpr std::size_t kEnvelopeAt = kPayloadAt - net::kEnvelopeSize;

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

}  // namespace

RpcNode::RpcNode(const RpcTables& tables, const RpcMemory& memory, std::uint32_t incarnation)
    : tables_(tables), memory_(memory), incarnation_(incarnation) {
  timer_node_.node = this;
  timer_node_.run = &RpcNode::on_timer;
  timer_.on_expiry = &timer_node_;
}

bool RpcNode::add_network(std::string_view name, std::string_view kind, Link& link, net::Reassembler& reassembler) {
  if (network_count_ == networks_.size()) return false;
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
  if (net::envelope_message_size(request.size()) > memory_.max_message) co_return Status::no_memory;
  PendingCall pending;
  pending.reply = &reply;
  pending.network = n;
  pending.peer = peer.value();
  // Only @idempotent procedures are re-sent (the plan's mask): any other is sent once, so it runs
  // at most once whatever the link does; a lost request ends in timeout.
  const bool idempotent = header.procedure < 64 && ((route.idempotent >> header.procedure) & 1u) != 0;
  const std::uint64_t now = arch::now_us();
  Result<net::CallTable::Started> started =
      memory_.calls->start(destination, idempotent, policy(*n, route), now, &pending);
  if (!started.ok()) co_return started.status();
  ++counters_.calls;
  const int slot = started.value().slot;
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
  Result<std::size_t> size = net::encode_envelope(e, request, room);
  if (!size.ok()) {
    memory_.calls->cancel(slot);
    co_return size.status();
  }
  pending.message = room.first(size.value());
  arm_timer();
  sending = true;
  const Status sent = co_await send_message(*n, pending.peer, pending.message);
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
  const std::span<std::byte> copy = forward_buffer(buffer).first(pending->message.size());
  std::memcpy(copy.data(), pending->message.data(), copy.size());
  if (spawn(send_task(pending->network, pending->peer, copy, buffer)) != Status::ok) {
    forward_in_use_[static_cast<std::size_t>(buffer)] = false;
    ++counters_.dropped_no_memory;
  }
}

void RpcNode::on_reply(const net::DecodedEnvelope& e) {
  const Status status = e.header.kind == net::EnvelopeKind::reply ? Status::ok : net::from_wire(e.header.status);
  auto finished = memory_.calls->on_reply(e.header.call_id, e.header.source_node, status, arch::now_us());
  if (!finished) return;
  ++counters_.replies;
  auto* pending = static_cast<PendingCall*>(finished->context);
  Status result = finished->status;
  if (result == Status::ok) {
    std::span<std::byte> out = pending->reply->prepare(e.payload.size());
    if (out.size() != e.payload.size()) {
      result = Status::no_memory;
    } else if (!e.payload.empty()) {
      std::memcpy(out.data(), e.payload.data(), e.payload.size());
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
  arm_timer();
  return frames;
}

void RpcNode::Sink::on_frame(Peer from, const net::LinkFrame& frame) {
  std::optional<net::ReassembledMessage> m = network->reassembler->accept(from.id, frame, arch::now_us());
  if (!m) return;
  node->on_message(*network, from, m->bytes);
  network->reassembler->release(*m);
}

void RpcNode::on_message(Network& n, Peer from, std::span<const std::byte> message) {
  net::DecodedEnvelope e;
  if (net::decode_envelope(message, e) != net::EnvelopeError::none) {
    ++counters_.bad_envelopes;
    return;
  }
  if (e.header.destination_node != tables_.this_node) {
    forward(message, e);
    return;
  }
  watch_incarnation(e.header.source_node, e.header.sender_incarnation);
  if (e.header.kind == net::EnvelopeKind::request) {
    on_request(n, from, e);
  } else {
    on_reply(e);
  }
}

void RpcNode::watch_incarnation(std::uint16_t node, std::uint32_t incarnation) {
  PeerLife* free = nullptr;
  for (PeerLife& p : peers_) {
    if (p.used && p.node == node) {
      if (p.incarnation != incarnation) {
        p.incarnation = incarnation;
        ++counters_.peer_restarts;
        memory_.calls->destination_failed(
            node, Status::peer_restarted, arch::now_us(), [this](const net::CallTable::Finished& f) { finish(f); },
            [this](int, std::uint64_t, void* context) { resend(context); });
      }
      return;
    }
    if (!p.used && free == nullptr) free = &p;
  }
  if (free != nullptr) *free = PeerLife{node, incarnation, true};
}

std::span<std::byte> RpcNode::serve_request_buffer(int entry) {
  return memory_.serve_buffers.subspan(static_cast<std::size_t>(entry) * 2 * memory_.max_message, memory_.max_message);
}

std::span<std::byte> RpcNode::serve_reply_buffer(int entry) {
  return memory_.serve_buffers.subspan((static_cast<std::size_t>(entry) * 2 + 1) * memory_.max_message,
                                       memory_.max_message);
}

void RpcNode::on_request(Network& n, Peer from, const net::DecodedEnvelope& e) {
  ++counters_.requests;
  const net::ReplyCache::Admission a = memory_.replies->admit(e.header.source_node, e.header.call_id, arch::now_us());
  switch (a.verdict) {
    case net::ReplyCache::Verdict::execute: {
      const std::span<std::byte> in = serve_request_buffer(a.entry);
      if (e.payload.size() > in.size()) {
        memory_.replies->complete(a.entry, Status::no_memory, {}, arch::now_us());
        (void)spawn(answer_task(&n, from, net::reply_to(e.header, Status::no_memory, incarnation_), {}));
        return;
      }
      if (!e.payload.empty()) std::memcpy(in.data(), e.payload.data(), e.payload.size());
      if (spawn(serve_task(&n, from, e.header, a.entry, e.payload.size())) != Status::ok) {
        ++counters_.dropped_no_memory;
        memory_.replies->complete(a.entry, Status::no_memory, {}, arch::now_us());
      }
      return;
    }
    case net::ReplyCache::Verdict::replay:
      (void)spawn(answer_task(&n, from, net::reply_to(e.header, a.status, incarnation_), a.reply));
      return;
    case net::ReplyCache::Verdict::busy:
      (void)spawn(answer_task(&n, from, net::reply_to(e.header, Status::would_block, incarnation_), {}));
      return;
    case net::ReplyCache::Verdict::in_progress:
    case net::ReplyCache::Verdict::forgotten: return;
  }
}

Task<void> RpcNode::serve_task(Network* n, Peer from, net::Envelope request, int entry, std::size_t payload) {
  const std::span<const std::byte> in = serve_request_buffer(entry).first(payload);
  const std::span<std::byte> out_room = serve_reply_buffer(entry);
  SpanMessageBuffer reply(out_room.subspan(kPayloadAt));
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
  Result<std::size_t> head = net::encode_envelope_header(e, result.size(), out_room.subspan(kEnvelopeAt));
  if (!head.ok()) co_return;
  (void)co_await send_message(*n, from, out_room.subspan(kEnvelopeAt, net::kEnvelopeSize + result.size()));
}

Task<void> RpcNode::answer_task(Network* n, Peer to, net::Envelope reply, std::span<const std::byte> payload) {
  // Small (errors, or a replay of a stored reply): encoded into a forward buffer.
  const int buffer = take_forward_buffer();
  if (buffer < 0) co_return;
  const std::span<std::byte> room = forward_buffer(buffer);
  Result<std::size_t> size = net::encode_envelope(reply, payload, room);
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
  const std::uint64_t next = memory_.calls->next_wakeup_us();
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
