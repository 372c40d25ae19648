#include "actors/gateway.hpp"

#include <atomic>
#include <caf/all.hpp>
#include <chrono>
#include <fmt/format.h>

namespace tributary::actors {
namespace {

struct reply_to {
  gateway::reply fn;
};

}  // namespace
}  // namespace tributary::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tributary::actors::reply_to)

namespace tributary::actors {
namespace {

using bridge_actor =
    caf::typed_actor<caf::reacts_to<command_atom, std::string, std::string, reply_to>,
                     caf::reacts_to<query_atom, std::string, std::string, reply_to>>;

// Catalog commands fsync; queries scan. Both finish far sooner unless the node is wedged.
constexpr auto call_timeout = std::chrono::seconds(60);

auto on_failure(caf::actor_system& sys, reply_to r, const char* what) {
  return [&sys, r = std::move(r), what](caf::error& e) {
    r.fn(model::error{"InternalServerError",
                      fmt::format("the {} did not complete inside the node: {}; retry", what,
                                  sys.render(e)),
                      false});
  };
}

bridge_actor::behavior_type bridge_impl(bridge_actor::pointer self, coordinator_actor coordinator) {
  auto forward = [self, coordinator](auto atom, std::string& db, std::string& text, reply_to& r,
                                     const char* what) {
    self->request(coordinator, call_timeout, atom, std::move(db), std::move(text))
        .then([r](model::outcome& o) { r.fn(std::move(o)); },
              on_failure(self->system(), r, what));
  };
  return {
      [forward](command_atom a, std::string& db, std::string& text, reply_to& r) {
        forward(a, db, text, r, "command");
      },
      [forward](query_atom a, std::string& db, std::string& text, reply_to& r) {
        forward(a, db, text, r, "query");
      },
  };
}

model::error shutting_down() {
  return {"ShuttingDown", "the node is shutting down; retry on another node or after restart",
          false};
}

}  // namespace

struct gateway::impl {
  bridge_actor bridge;
  std::atomic<bool> stopped{false};
};

gateway::gateway(caf::actor_system& sys, coordinator_actor coordinator) : impl_(new impl) {
  impl_->bridge = sys.spawn(bridge_impl, std::move(coordinator));
}

gateway::~gateway() { stop(); }

void gateway::command(std::string database, std::string text, reply done) const {
  if (impl_->stopped) return done(shutting_down());
  caf::anon_send(impl_->bridge, command_atom::value, std::move(database), std::move(text),
                 reply_to{std::move(done)});
}

void gateway::query(std::string database, std::string text, reply done) const {
  if (impl_->stopped) return done(shutting_down());
  caf::anon_send(impl_->bridge, query_atom::value, std::move(database), std::move(text),
                 reply_to{std::move(done)});
}

void gateway::stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  caf::anon_send_exit(impl_->bridge, caf::exit_reason::user_shutdown);
}

}  // namespace tributary::actors
