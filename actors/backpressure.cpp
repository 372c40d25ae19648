#include "actors/backpressure.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <caf/all.hpp>
#include <cmath>
#include <deque>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "monitoring/controller_probe.hpp"

namespace tributary::actors {
namespace {

// 0 at `high`, rising linearly to 1 at `full`. Written so that NaN reads as no pressure.
double ramp(double value, double high, double full) {
  if (!(value > high)) return 0;
  if (!(full > high)) return 1;
  return std::min(1.0, (value - high) / (full - high));
}

// The pressure level with every mark lowered by `margin`: 0 gives the current level;
// c.hysteresis gives the level the readings must be under before the budget may rise again.
double pressure_level(const pressure_readings& r, const controller_config& c, double margin) {
  double p = ramp(r.system_cpu, c.cpu_high - margin, c.cpu_full - margin);
  if (c.memory_limit_bytes > 0) {
    double used = static_cast<double>(r.rss_bytes) / static_cast<double>(c.memory_limit_bytes);
    p = std::max(p, ramp(used, c.memory_high - margin, c.memory_full - margin));
  }
  if (c.memtable_high_bytes > 0) {
    // In units of the bound: pressure starts at 1 and is full at 2.
    double used =
        static_cast<double>(r.memtable_bytes) / static_cast<double>(c.memtable_high_bytes);
    p = std::max(p, ramp(used, 1 - margin, 2 - margin));
  }
  if (r.ack_latency_base_us > 0 && r.ack_latency_us >= static_cast<double>(c.latency_floor.count()))
    p = std::max(p, ramp(r.ack_latency_us / r.ack_latency_base_us, c.latency_high - margin * c.latency_high,
                         c.latency_full - margin * c.latency_high));
  return p;
}

uint32_t movers_at(double pressure, uint32_t max_movers) {
  if (pressure >= 1) return 0;
  // ceil: any pressure short of full leaves at least one mover running.
  return static_cast<uint32_t>(std::ceil(static_cast<double>(max_movers) * (1 - pressure)));
}

uint32_t pause_at(double pressure, std::chrono::microseconds max_pause) {
  double us = pressure * static_cast<double>(max_pause.count());
  return static_cast<uint32_t>(
      std::clamp(us, 0.0, static_cast<double>(std::numeric_limits<uint32_t>::max())));
}

// The whole line, or nothing.
std::string read_first_line(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

mover_budget decide(const pressure_readings& r, const controller_config& c,
                    const std::optional<mover_budget>& previous) {
  double pressure = pressure_level(r, c, 0);
  uint32_t allowed = movers_at(pressure, c.max_movers);
  if (previous && allowed > previous->movers_allowed) {
    // Falling is immediate (pressure hurts now); rising is one mover per sample, and only once
    // the readings are clear of the marks by the hysteresis band, so a reading hovering at a
    // mark does not flap the budget.
    uint32_t calm = movers_at(pressure_level(r, c, c.hysteresis), c.max_movers);
    allowed =
        std::max(previous->movers_allowed, std::min({allowed, calm, previous->movers_allowed + 1}));
    allowed = std::min(allowed, c.max_movers);
  }
  uint32_t pause_us = pause_at(pressure, c.max_pause);

  bool throttle = false;
  bool pressed = false;
  if (c.rowstore_quota_bytes > 0) {
    double fill =
        static_cast<double>(r.rowstore_bytes) / static_cast<double>(c.rowstore_quota_bytes);
    throttle = fill >= c.rowstore_throttle ||
               (previous && previous->throttle_ingest && fill >= c.rowstore_resume);
    // The guarantee also covers throttling, so a configuration with resume below guarantee
    // cannot leave ingest refused while movers stay paused.
    pressed = fill >= c.rowstore_guarantee || throttle;
    if (pressed) {
      allowed = std::max(allowed, std::min(c.guaranteed_movers, c.max_movers));
      pause_us = 0;
    }
  }

  mover_budget b;
  b.movers_allowed = allowed;
  b.pause_us = pause_us;
  b.throttle_ingest = throttle;
  b.rowstore_pressed = pressed;
  b.system_cpu = r.system_cpu;
  b.process_cpu = r.process_cpu;
  b.rss_bytes = r.rss_bytes;
  b.memory_limit_bytes = c.memory_limit_bytes;
  b.memtable_bytes = r.memtable_bytes;
  b.rowstore_bytes = r.rowstore_bytes;
  b.rowstore_quota_bytes = c.rowstore_quota_bytes;
  return b;
}

pressure_smoother::pressure_smoother(double weight) : weight_(std::clamp(weight, 0.01, 1.0)) {}

pressure_readings pressure_smoother::update(const pressure_readings& sample) {
  if (!smoothed_) {
    smoothed_ = sample;
    return sample;
  }
  auto& s = *smoothed_;
  auto mix = [this](double old_value, double new_value) {
    return old_value + weight_ * (new_value - old_value);
  };
  auto mix_bytes = [&](uint64_t old_value, uint64_t new_value) {
    return static_cast<uint64_t>(
        std::llround(mix(static_cast<double>(old_value), static_cast<double>(new_value))));
  };
  s.system_cpu = mix(s.system_cpu, sample.system_cpu);
  s.process_cpu = mix(s.process_cpu, sample.process_cpu);
  s.rss_bytes = mix_bytes(s.rss_bytes, sample.rss_bytes);
  s.memtable_bytes = mix_bytes(s.memtable_bytes, sample.memtable_bytes);
  s.rowstore_bytes = sample.rowstore_bytes;
  // Unsmoothed, like the rowstore: a move hurts acks within a sample, and a quarter second of
  // requests waiting is already what the signal is for. The budget's slow rise damps it.
  s.ack_latency_us = sample.ack_latency_us;
  s.ack_latency_base_us = sample.ack_latency_base_us;
  return s;
}

pressure_sampler::pressure_sampler(pressure_sources sources) : sources_(std::move(sources)) {}

pressure_readings pressure_sampler::sample() {
  pressure_readings r;
  const auto& root = sources_.proc_root;

  // /proc/stat "cpu" line: user nice system idle iowait irq softirq steal (guest time is
  // already inside user and nice). iowait counts as idle: a core waiting on a disk is free
  // for a mover; steal counts as busy: the hypervisor took it.
  std::optional<uint64_t> total, busy;
  {
    std::istringstream line(read_first_line(root / "stat"));
    std::string label;
    std::vector<uint64_t> f;
    if (line >> label && label == "cpu")
      for (uint64_t v; f.size() < 8 && line >> v;) f.push_back(v);
    if (f.size() >= 5) {
      uint64_t sum = 0;
      for (auto v : f) sum += v;
      total = sum;
      busy = sum - f[3] - f[4];
    }
  }
  // /proc/self/stat fields 14 and 15 (utime, stime), counted after the last ')' because the
  // command name may contain spaces and parentheses. Same unit as /proc/stat (USER_HZ), so
  // process ticks over all cores' ticks is the share of the whole machine.
  std::optional<uint64_t> process;
  {
    auto line = read_first_line(root / "self" / "stat");
    if (auto close = line.rfind(')'); close != std::string::npos) {
      std::istringstream fields(line.substr(close + 1));
      std::vector<std::string> f;
      for (std::string s; f.size() < 13 && fields >> s;) f.push_back(std::move(s));
      uint64_t utime = 0, stime = 0;
      if (f.size() == 13 && std::istringstream(f[11]) >> utime &&
          std::istringstream(f[12]) >> stime)
        process = utime + stime;
    }
  }
  if (total && busy) {
    bool backwards = *total < last_total_ticks_ || *busy < last_busy_ticks_ ||
                     (process && *process < last_process_ticks_);
    if (!primed_ || backwards) {
      system_cpu_ = process_cpu_ = 0;
      primed_ = true;
    } else if (*total > last_total_ticks_) {
      // Equal totals: sampled within one tick; the last fractions still stand.
      auto dt = static_cast<double>(*total - last_total_ticks_);
      system_cpu_ = std::clamp(static_cast<double>(*busy - last_busy_ticks_) / dt, 0.0, 1.0);
      process_cpu_ =
          process ? std::clamp(static_cast<double>(*process - last_process_ticks_) / dt, 0.0, 1.0)
                  : 0.0;
    }
    last_total_ticks_ = *total;
    last_busy_ticks_ = *busy;
    last_process_ticks_ = process.value_or(0);
    r.system_cpu = system_cpu_;
    r.process_cpu = process ? process_cpu_ : 0;
  } else {
    primed_ = false;
  }

  {
    std::istringstream statm(read_first_line(root / "self" / "statm"));
    uint64_t size_pages = 0, resident_pages = 0;
    if (statm >> size_pages >> resident_pages) {
      long page = ::sysconf(_SC_PAGESIZE);
      r.rss_bytes = resident_pages * static_cast<uint64_t>(page > 0 ? page : 4096);
    }
  }
  if (sources_.memtable_bytes) r.memtable_bytes = sources_.memtable_bytes();
  if (sources_.rowstore_bytes) r.rowstore_bytes = sources_.rowstore_bytes();
  if (sources_.acks) {
    // Too few acks for a p99: they count towards the next sample's.
    auto acks = sources_.acks();
    r.ack_latency_us = ack_histogram::p99_us(last_acks_, acks);
    if (r.ack_latency_us > 0) last_acks_ = std::move(acks);
  }
  return r;
}

// --- the actor ---

namespace {

using tick_atom = caf::atom_constant<caf::atom("bp_tick")>;

// The public protocol plus the controller's own timer. Spawned with this interface; handed out
// as the narrower controller_actor, so nobody else can send the tick.
using controller_impl_actor = controller_actor::extend<caf::reacts_to<tick_atom>>;

struct waiter {
  caf::typed_response_promise<mover_budget> promise;
  caf::actor_addr requester;
};

// What the controller knows of one actor that sent acquire: slots held and acquires waiting.
// Monitored while either is non-zero, so its slots come back if it dies holding them.
struct requester_entry {
  uint32_t slots = 0;
  uint32_t waiting = 0;
};

struct controller_st {
  controller_config config;
  std::optional<pressure_sampler> sampler;
  pressure_smoother smoother{1.0};
  monitoring::controller_probe* probe = nullptr;
  std::function<void(const mover_budget&)> decided;
  std::optional<mover_budget> budget;  // the last decision, with its readings
  uint32_t running = 0;
  std::map<caf::actor_addr, requester_entry> requesters;
  std::deque<waiter> waiters;
  // Ack-latency p99s of the samples of the last latency_window (for the base: their minimum).
  std::deque<std::pair<std::chrono::steady_clock::time_point, double>> ack_p99s;
  static inline const char* name = "controller";

  mover_budget snapshot() const {
    auto b = budget.value_or(mover_budget{});
    b.movers_running = running;
    return b;
  }
};

using controller_ptr = controller_impl_actor::stateful_pointer<controller_st>;

void sample_and_decide(controller_ptr self) {
  auto& st = self->state;
  auto sample = st.sampler->sample();
  const auto now = std::chrono::steady_clock::now();
  if (sample.ack_latency_us > 0) st.ack_p99s.emplace_back(now, sample.ack_latency_us);
  while (!st.ack_p99s.empty() && now - st.ack_p99s.front().first > st.config.latency_window)
    st.ack_p99s.pop_front();
  for (const auto& [at, p99] : st.ack_p99s)
    if (sample.ack_latency_base_us == 0 || p99 < sample.ack_latency_base_us) sample.ack_latency_base_us = p99;
  auto readings = st.smoother.update(sample);
  st.budget = decide(readings, st.config, st.budget);
  const auto& b = *st.budget;
  if (st.decided) st.decided(b);
  st.probe->decided({b.movers_allowed, std::chrono::microseconds(b.pause_us), b.throttle_ingest,
                     b.system_cpu, b.process_cpu, b.rss_bytes, b.memory_limit_bytes,
                     b.memtable_bytes, b.rowstore_bytes, b.rowstore_quota_bytes});
}

void forget_if_idle(controller_ptr self, const caf::actor_addr& who) {
  auto& st = self->state;
  auto it = st.requesters.find(who);
  if (it == st.requesters.end() || it->second.slots > 0 || it->second.waiting > 0) return;
  if (who) self->demonitor(who);
  st.requesters.erase(it);
}

// Grants waiting acquires in arrival order while the budget has room.
void grant_waiters(controller_ptr self) {
  auto& st = self->state;
  uint32_t allowed = st.budget ? st.budget->movers_allowed : 0;
  while (!st.waiters.empty() && st.running < allowed) {
    auto w = std::move(st.waiters.front());
    st.waiters.pop_front();
    auto& entry = st.requesters[w.requester];
    --entry.waiting;
    ++entry.slots;
    ++st.running;
    w.promise.deliver(st.snapshot());
  }
  st.probe->running(st.running);
}

controller_impl_actor::behavior_type controller_impl(controller_ptr self, controller_config config,
                                                     pressure_sources sources,
                                                     monitoring::controller_probe* probe) {
  auto& st = self->state;
  st.config = std::move(config);
  st.decided = std::move(sources.decided);
  st.sampler.emplace(std::move(sources));
  st.smoother = pressure_smoother{st.config.smoothing};
  st.probe = probe;
  // A zero interval would make the timer spin.
  auto interval = std::max(st.config.sample_interval, std::chrono::milliseconds(10));
  // Decide once before the first tick, so an early acquire meets a real budget.
  sample_and_decide(self);
  grant_waiters(self);
  self->delayed_send(self, interval, tick_atom::value);

  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    auto it = st.requesters.find(msg.source);
    if (it == st.requesters.end()) return;
    if (it->second.slots > 0)
      spdlog::warn("controller: a mover slot holder terminated without release; {} slot(s) freed",
                   it->second.slots);
    st.running -= it->second.slots;
    st.requesters.erase(it);
    st.waiters.erase(std::remove_if(st.waiters.begin(), st.waiters.end(),
                                    [&](const waiter& w) { return w.requester == msg.source; }),
                     st.waiters.end());
    grant_waiters(self);
  });
  // Answer waiting acquires before stopping: a table waiting for a slot must not wait forever.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (!msg.reason) return;
    for (auto& w : self->state.waiters)
      w.promise.deliver(caf::make_error(caf::sec::request_receiver_down));
    self->state.waiters.clear();
    self->quit(msg.reason);
  });

  return {
      [self](acquire_atom) -> caf::typed_response_promise<mover_budget> {
        auto& st = self->state;
        // Before make_response_promise, which takes the sender out of the current message.
        auto sender = self->current_sender();
        auto who = caf::actor_cast<caf::actor_addr>(sender);
        auto rp = self->make_response_promise<mover_budget>();
        auto [it, added] = st.requesters.try_emplace(who);
        if (added && sender) self->monitor(sender);
        ++it->second.waiting;
        // Everyone queues, and the queue is served in order: a new acquire never overtakes one
        // that waits for the budget to rise.
        st.waiters.push_back({rp, who});
        grant_waiters(self);
        return rp;
      },
      [self](release_atom) {
        auto& st = self->state;
        auto who = caf::actor_cast<caf::actor_addr>(self->current_sender());
        auto it = st.requesters.find(who);
        if (it == st.requesters.end() || it->second.slots == 0) {
          spdlog::warn("controller: release from an actor holding no mover slot; ignored");
          return;
        }
        --it->second.slots;
        --st.running;
        forget_if_idle(self, who);
        grant_waiters(self);
      },
      [self](budget_atom) { return self->state.snapshot(); },
      [self, interval](tick_atom) {
        sample_and_decide(self);
        grant_waiters(self);
        self->delayed_send(self, interval, tick_atom::value);
      },
  };
}

}  // namespace

controller_actor spawn_controller(caf::actor_system& sys, controller_config config,
                                  pressure_sources sources, monitoring::controller_probe& probe) {
  // Not detached: procfs reads are answered from kernel memory and never wait on a device.
  return sys.spawn(controller_impl, std::move(config), std::move(sources), &probe);
}

}  // namespace tributary::actors
