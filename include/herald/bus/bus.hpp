// SPDX-License-Identifier: MIT
#pragma once

#include <fmt/core.h>  // the default error handler's report

#include <atomic>       // handler lists are swapped while others publish
#include <cstddef>      // slot numbers
#include <cstdint>      // handler ids
#include <cstdio>       // stderr, for the default error handler
#include <exception>    // std::current_exception
#include <memory>       // lifetime token, async dispatcher
#include <mutex>        // serializes writers of the thread-safe bus
#include <new>          // std::launder for the lazily made message
#include <string>       // error text
#include <string_view>  // event type names
#include <type_traits>  // handler signature checks
#include <utility>      // std::move
#include <vector>       // handler lists, retired lists

#include "herald/bus/executor.hpp"
#include "herald/bus/options.hpp"
#include "herald/bus/subscription.hpp"
#include "herald/clock.hpp"
#include "herald/detail/async_dispatcher.hpp"
#include "herald/detail/dispatch_frame.hpp"
#include "herald/detail/epoch.hpp"
#include "herald/detail/type_index.hpp"
#include "herald/error.hpp"
#include "herald/event.hpp"
#include "herald/id.hpp"
#include "herald/message.hpp"

namespace herald {

class event_pattern;
template <class T>
class typed_pattern;

namespace detail {
template <class T>
struct pattern_filter;  // herald/routing/event_pattern.hpp
template <class Pattern>
struct route_builder;  // herald/routing/route.hpp
}  // namespace detail

/// Bus policy: one thread publishes and subscribes; nothing is synchronized.
struct single_thread_policy {
  static constexpr bool thread_safe = false;
};

/// Bus policy: any thread may publish, subscribe and unsubscribe at once.
/// Publishing takes no lock and no atomic read-modify-write; subscribers are
/// copied on write and old lists are freed once no publish can read them.
struct thread_safe_policy {
  static constexpr bool thread_safe = true;
};

namespace detail {

template <class T>
struct is_message : std::false_type {};
template <class T>
struct is_message<message<T>> : std::true_type {};

struct handler_entry {
  std::uint64_t id;
  void* target;
  void (*invoke)(void* target, dispatch_frame& frame);
  void (*destroy)(void* target) noexcept;
};

struct handler_list {
  std::vector<handler_entry> entries;
};

// What a route table needs from one publish: the bus's routes see every
// event type, so the type travels as an index and the payload untyped.
struct route_call {
  dispatch_frame& frame;
  std::size_t type;  // detail::type_index of the payload's type
  const void* payload;
  void* bus;
  void (*report)(void* bus, std::string_view type, const attributes& m, std::exception_ptr e);
};

// The bus's routes, copied on write like handler lists. Defined in
// herald/routing/route.hpp, so that the bus needs no JSON unless it routes.
struct route_table {
  void (*dispatch)(const route_table& self, route_call& call);
  // A copy without route `id`: nullptr when none would be left.
  const route_table* (*without)(const route_table& self, std::uint64_t id);
  void (*destroy)(const route_table* self) noexcept;
};

// The frame of one publish of T. For a plain `publish(const T&)` the message
// (and with it a UUID and a clock read) is made only if someone asks. Every
// store here is on the publish path, so the frame holds only what it must.
template <class T>
struct typed_frame : dispatch_frame {
  typed_frame(const T* payload_in, const message<T>* message_in, const bus_options& options_in)
      : dispatch_frame(&attributes_of_frame),
        payload(payload_in),
        msg(message_in),
        options(&options_in) {}

  ~typed_frame() {
    if (msg == made()) made()->~message<T>();
  }

  const message<T>& get() {
    if (!msg) {
      auto* fresh = ::new (static_cast<void*>(storage)) message<T>(*payload);
      msg = fresh;  // from here on the destructor owns it
      // The cause is the parent: this frame is itself the current one now.
      fill_blank_attributes(*fresh, event_type_v<T>, options->source, options->clock, parent);
    }
    return *msg;
  }

  static const attributes& attributes_of_frame(dispatch_frame& f) {
    return static_cast<typed_frame&>(f).get();
  }

  message<T>* made() noexcept { return std::launder(reinterpret_cast<message<T>*>(storage)); }

  const T* payload;
  const message<T>* msg;
  const bus_options* options;  // source and clock, for a message made here
  alignas(message<T>) unsigned char storage[sizeof(message<T>)];
};

// Which argument a handler or predicate takes; plain T is preferred because
// it costs nothing to provide.
template <class T, class F>
constexpr bool takes_event = std::is_invocable_v<F&, const T&>;
template <class T, class F>
constexpr bool takes_message = std::is_invocable_v<F&, const message<T>&>;

template <class T, class F>
decltype(auto) call_with(F& f, typed_frame<T>& frame) {
  if constexpr (takes_event<T, F>) {
    return f(*frame.payload);
  } else {
    return f(frame.get());
  }
}

struct no_filter {};
struct nothing {};  // a member a policy does not need

template <class T, class Handler, class Filter>
struct handler_box {
  Handler handler;
  [[no_unique_address]] Filter filter;

  static void invoke(void* self, dispatch_frame& f) {
    auto& box = *static_cast<handler_box*>(self);
    auto& frame = static_cast<typed_frame<T>&>(f);
    if constexpr (!std::is_same_v<Filter, no_filter>) {
      if (!static_cast<bool>(call_with(box.filter, frame))) return;
    }
    call_with(box.handler, frame);
  }

  static void destroy(void* self) noexcept { delete static_cast<handler_box*>(self); }
};

template <class T, class F>
consteval bool check_handler() {
  if constexpr (!takes_event<T, F> && !takes_message<T, F>) {
    static_assert(always_false<F>,
                  "herald: a handler must be callable with `const T&` or "
                  "`const herald::message<T>&` for the event type T it subscribes to");
    return false;
  } else {
    return true;
  }
}

template <class T, class F>
consteval bool check_filter() {
  if constexpr (!takes_event<T, F> && !takes_message<T, F>) {
    static_assert(always_false<F>,
                  "herald: a filter must be callable with `const T&` or "
                  "`const herald::message<T>&` and return something convertible to bool");
    return false;
  } else {
    return true;
  }
}

template <class Policy>
consteval bool check_policy() {
  if constexpr (!requires {
                  { Policy::thread_safe } -> std::convertible_to<bool>;
                }) {
    static_assert(always_false<Policy>,
                  "herald: a bus policy must declare `static constexpr bool thread_safe`; use "
                  "herald::thread_safe_policy or herald::single_thread_policy");
    return false;
  } else {
    return true;
  }
}

}  // namespace detail

/// In-process typed dispatch. subscribe<T>() adds a handler and returns the
/// subscription that owns it; publish() calls every handler of T that was
/// subscribed when the publish started, in subscription order, on the
/// publishing thread. A handler that throws does not stop the others: its
/// exception goes to the error handler. Subscribing or unsubscribing from a
/// handler is safe and takes effect from the next publish. A message
/// published from a handler carries the handled message's correlation id,
/// and its id as causation id.
///
/// With thread_safe_policy every member may be called from any thread at
/// once; with single_thread_policy, from one thread at a time. The bus must
/// outlive in-flight publishes; subscriptions may outlive it.
template <class Policy>
class basic_bus {
  static_assert(detail::check_policy<Policy>());
  static constexpr bool thread_safe = Policy::thread_safe;

 public:
  explicit basic_bus(bus_options options = {}) : options_(std::move(options)) {
    if (options_.async_executor) {
      async_ = std::make_unique<detail::async_dispatcher>(
          *options_.async_executor, options_.queue_capacity, options_.overflow,
          options_.max_concurrency);
    }
  }

  basic_bus(const basic_bus&) = delete;
  basic_bus& operator=(const basic_bus&) = delete;

  /// Delivers what publish_async queued, then frees every handler.
  ~basic_bus() {
    async_.reset();
    source_->close();  // an unsubscribe racing this destructor finishes first
    for (auto& chunk_ptr : chunks_) {
      auto* c = chunk_ptr.load(std::memory_order_relaxed);
      if (!c) continue;
      for (auto& slot : c->lists) {
        const auto* list = slot.load(std::memory_order_relaxed);
        if (!list) continue;
        for (const auto& entry : list->entries) entry.destroy(entry.target);
        delete list;
      }
      delete c;
    }
    if (const auto* routes = routes_.load(std::memory_order_relaxed)) free_routes(routes);
    for (auto& garbage : retired_) free_retired(garbage);
  }

  /// Calls `handler` for every T published from now on. `handler` takes
  /// `const T&` or `const herald::message<T>&`.
  template <class T, class Handler>
  [[nodiscard]] subscription subscribe(Handler&& handler) {
    // Each check stops at its own static_assert, so misuse reads as one error.
    if constexpr (detail::check_event<T>() && detail::check_handler<T, std::decay_t<Handler>>()) {
      return add<T>(std::forward<Handler>(handler), detail::no_filter{});
    } else {
      return {};
    }
  }

  /// Like subscribe<T>(handler), for the events `filter` returns true for.
  /// The filter, like the handler, takes `const T&` or `const message<T>&`;
  /// or it is a herald::event_pattern, matched against the message's
  /// CloudEvent JSON form (include herald/routing/event_pattern.hpp).
  template <class T, class Filter, class Handler>
  [[nodiscard]] subscription subscribe(Filter&& filter, Handler&& handler) {
    if constexpr (std::is_same_v<std::decay_t<Filter>, event_pattern> ||
                  std::is_same_v<std::decay_t<Filter>, typed_pattern<T>>) {
      return subscribe<T>(detail::pattern_filter<T>{std::forward<Filter>(filter)},
                          std::forward<Handler>(handler));
    } else if constexpr (detail::check_event<T>() &&
                         detail::check_filter<T, std::decay_t<Filter>>() &&
                         detail::check_handler<T, std::decay_t<Handler>>()) {
      return add<T>(std::forward<Handler>(handler), std::forward<Filter>(filter));
    } else {
      return {};
    }
  }

  /// Calls `handler` for every event published from now on, of any type,
  /// whose CloudEvent JSON form matches `pattern` (a herald::event_pattern or
  /// its JSON text): what a rule of a cloud event bus does. The handler takes
  /// `const herald::envelope&` or the `const nlohmann::json&` matched.
  /// Include herald/routing/route.hpp; docs/routing.md tells what routes see.
  template <class Pattern, class Handler>
  [[nodiscard]] subscription route(Pattern&& pattern, Handler&& handler) {
    using builder = detail::route_builder<std::decay_t<Pattern>>;
    std::uint64_t id;
    {
      std::lock_guard lock(writers_);
      id = ++last_id_;
      const auto* old = routes_.load(std::memory_order_relaxed);
      const detail::route_table* fresh =
          builder::with(old, id, std::forward<Pattern>(pattern), std::forward<Handler>(handler));
      routes_.store(fresh, std::memory_order_release);
      if (old) retire(old, {});
    }
    return subscription(source_, &unroute_thunk, this, 0, id);
  }

  /// Calls the current handlers of T. The message's attributes are made only
  /// if a handler, a nested publish or the error handler needs them.
  template <class T>
  requires(!detail::is_message<T>::value) void publish(const T& event) {
    if constexpr (detail::check_event<T>()) dispatch<T>(&event, nullptr);
  }

  /// Calls the current handlers of T with this message. Attributes left
  /// empty are filled: id, source, time, and from the message being handled
  /// on this thread, correlation id, causation id and traceparent.
  template <class T>
  void publish(message<T> m) {
    if constexpr (detail::check_event<T>()) {
      complete(m);
      dispatch<T>(&m.data, &m);
    }
  }

  /// Queues the event for delivery on the executor given in bus_options and
  /// returns. When the queue is full, the bus's overflow policy applies.
  /// Correlation and causation are taken now, from the publishing thread.
  template <class T>
  requires(!detail::is_message<T>::value) void publish_async(const T& event) {
    if constexpr (detail::check_event<T>()) {
      auto& queue = async_queue();
      if (detail::current_frame) {  // inside a handler: capture the context now
        publish_async(message<T>(event));
        return;
      }
      queue.push([this, event] { publish(event); });
    }
  }

  /// publish_async for a message; blanks are filled now, as publish() does.
  template <class T>
  void publish_async(message<T> m) {
    if constexpr (detail::check_event<T>()) {
      auto& queue = async_queue();
      complete(m);
      queue.push([this, m = std::make_unique<message<T>>(std::move(m))]() mutable {
        publish(std::move(*m));
      });
    }
  }

  /// Waits until every message publish_async queued before this call has
  /// been delivered, then rethrows the first exception an error handler let
  /// escape from an async delivery since the last drain(). Without an
  /// executor it returns at once. Throws errc::would_deadlock when called
  /// from a handler that the bus's drain thread runs.
  void drain() {
    if (async_) async_->drain();
  }

  /// Messages discarded by overflow_policy::drop_oldest.
  [[nodiscard]] std::uint64_t dropped() const noexcept { return async_ ? async_->dropped() : 0; }

  /// How many handlers T has now.
  template <class T>
  [[nodiscard]] std::size_t subscriber_count() const {
    read_scope scope(*this);
    const auto* list = find_list(detail::type_index<T>());
    return list ? list->entries.size() : 0;
  }

  /// Replaces the error handler. Not to be called while publishes run.
  void on_error(error_handler handler) { options_.on_error = std::move(handler); }

 private:
  static constexpr std::size_t chunk_size = 64;
  static constexpr std::size_t max_chunks = detail::max_type_indexes / chunk_size;

  struct chunk {
    std::atomic<const detail::handler_list*> lists[chunk_size]{};
  };

  // A handler list or a route table that a publish may still read.
  struct retired_list {
    const void* object;
    void (*free)(const void* object) noexcept;
    detail::handler_entry removed;  // target == nullptr: nothing removed
    std::uint64_t tag;
  };

  // Keeps the handler lists a publish reads alive until it ends.
  class read_scope {
   public:
    explicit read_scope(const basic_bus& bus) : bus_(const_cast<basic_bus&>(bus)) {
      if constexpr (thread_safe) {
        slot_ = &detail::epoch_domain::local_slot();
        outermost_ = detail::epoch_domain::enter(*slot_);
      }
    }
    ~read_scope() {
      if constexpr (thread_safe) {
        if (!outermost_) return;
        detail::epoch_domain::leave(*slot_);
        // A list retired while this publish read it is freed now, not at
        // some later subscribe: its handlers' state should not linger.
        if (bus_.has_retired_.load(std::memory_order_relaxed)) bus_.try_collect();
      } else if (bus_.has_retired_.load(std::memory_order_relaxed) && !detail::current_frame)
          [[unlikely]] {
        bus_.collect();  // the outermost publish on this thread has ended
      }
    }
    read_scope(const read_scope&) = delete;
    read_scope& operator=(const read_scope&) = delete;

   private:
    basic_bus& bus_;
    [[no_unique_address]] std::conditional_t<thread_safe, detail::epoch_domain::reader_slot*,
                                             detail::nothing>
        slot_{};
    [[no_unique_address]] std::conditional_t<thread_safe, bool, detail::nothing> outermost_{};
  };

  struct null_mutex {
    void lock() noexcept {}
    void unlock() noexcept {}
    bool try_lock() noexcept { return true; }
  };
  using writer_mutex = std::conditional_t<thread_safe, std::mutex, null_mutex>;

  // The frame is built only once there is someone to deliver to.
  // Inlined into each publish: a call here costs a fifth of a one-handler dispatch.
  template <class T>
  [[gnu::always_inline]] inline void dispatch(const T* payload, const message<T>* m) {
    read_scope scope(*this);
    const std::size_t index = detail::type_index<T>();
    const auto* list = find_list(index);
    if (!list) [[unlikely]] {
      if (routes_.load(std::memory_order_acquire)) route_only(index, payload, m);
      return;
    }
    detail::typed_frame<T> frame(payload, m, options_);
    // The frame has read the current one already: testing it costs a branch.
    if (frame.parent) [[unlikely]]
      detail::check_nested_publish(frame.parent, event_type_v<T>);
    for (const auto& entry : list->entries) {
      try {
        entry.invoke(entry.target, frame);
      } catch (...) {
        report(event_type_v<T>, frame.get(), std::current_exception());
      }
    }
    // Read after the handlers, so that a bus without routes pays one load.
    if (const auto* routes = routes_.load(std::memory_order_acquire)) [[unlikely]] {
      run_routes(*routes, frame, index, payload);
    }
  }

  template <class T>
  [[gnu::noinline]] void route_only(std::size_t index, const T* payload, const message<T>* m) {
    detail::typed_frame<T> frame(payload, m, options_);
    if (frame.parent) detail::check_nested_publish(frame.parent, event_type_v<T>);
    if (const auto* routes = routes_.load(std::memory_order_acquire)) {
      run_routes(*routes, frame, index, payload);
    }
  }

  [[gnu::noinline]] void run_routes(const detail::route_table& routes,
                                    detail::dispatch_frame& frame, std::size_t index,
                                    const void* payload) {
    detail::route_call call{frame, index, payload, this, &report_thunk};
    routes.dispatch(routes, call);
  }

  static void report_thunk(void* self, std::string_view type, const attributes& m,
                           std::exception_ptr e) {
    static_cast<basic_bus*>(self)->report(type, m, std::move(e));
  }

  void report(std::string_view type, const attributes& m, std::exception_ptr e) {
    handler_failure failure{type, m, std::move(e)};
    if (options_.on_error) {
      options_.on_error(failure);
      return;
    }
    fmt::print(stderr, "herald: a handler of {} (message {}) threw: {}\n", type, m.id,
               failure.what());
  }

  template <class T>
  void complete(message<T>& m) {
    detail::fill_blank_attributes(m, event_type_v<T>, options_.source, options_.clock,
                                  detail::current_frame);
  }

  detail::async_dispatcher& async_queue() {
    if (!async_) {
      throw error(errc::invalid_argument,
                  "publish_async needs an executor: construct the bus with "
                  "bus_options{.async_executor = &pool} (a herald::thread_pool)");
    }
    return *async_;
  }

  const detail::handler_list* find_list(std::size_t index) const noexcept {
    const chunk* c = chunks_[index / chunk_size].load(std::memory_order_acquire);
    return c ? c->lists[index % chunk_size].load(std::memory_order_acquire) : nullptr;
  }

  template <class T, class Handler, class Filter>
  subscription add(Handler&& handler, Filter&& filter) {
    using box = detail::handler_box<T, std::decay_t<Handler>, std::decay_t<Filter>>;
    const std::size_t index = detail::checked_type_index<T>();
    auto* target = new box{std::forward<Handler>(handler), std::forward<Filter>(filter)};
    std::uint64_t id;
    {
      std::lock_guard lock(writers_);
      id = ++last_id_;
      auto& slot = slot_for(index);
      const auto* old = slot.load(std::memory_order_relaxed);
      auto* fresh =
          new detail::handler_list{old ? old->entries : std::vector<detail::handler_entry>{}};
      fresh->entries.push_back({id, target, &box::invoke, &box::destroy});
      slot.store(fresh, std::memory_order_release);
      if (old) retire(old, {});
    }
    return subscription(source_, &unsubscribe_thunk, this, index, id);
  }

  static void unsubscribe_thunk(void* self, std::size_t index, std::uint64_t id) noexcept {
    static_cast<basic_bus*>(self)->remove(index, id);
  }

  static void unroute_thunk(void* self, std::size_t, std::uint64_t id) noexcept {
    static_cast<basic_bus*>(self)->remove_route(id);
  }

  void remove_route(std::uint64_t id) noexcept {
    std::lock_guard lock(writers_);
    const auto* old = routes_.load(std::memory_order_relaxed);
    if (!old) return;
    const detail::route_table* fresh;
    try {
      fresh = old->without(*old, id);
    } catch (...) {
      return;  // out of memory: the route stays, as remove() leaves a handler
    }
    if (fresh == old) return;  // no such route
    routes_.store(fresh, std::memory_order_release);
    retire(old, {});
  }

  void remove(std::size_t index, std::uint64_t id) noexcept {
    std::lock_guard lock(writers_);
    auto& slot = slot_for_existing(index);
    const auto* old = slot.load(std::memory_order_relaxed);
    if (!old) return;
    detail::handler_list* fresh = nullptr;
    detail::handler_entry removed{};
    try {
      if (old->entries.size() > 1) fresh = new detail::handler_list{};
      for (const auto& entry : old->entries) {
        if (entry.id == id) {
          removed = entry;
        } else if (fresh) {
          fresh->entries.push_back(entry);
        }
      }
    } catch (...) {
      // Out of memory while unsubscribing: leave the handler subscribed
      // rather than break the bus; reset() is noexcept.
      delete fresh;
      return;
    }
    if (!removed.target) {
      delete fresh;
      return;
    }
    slot.store(fresh, std::memory_order_release);
    retire(old, removed);
  }

  std::atomic<const detail::handler_list*>& slot_for(std::size_t index) {
    auto& entry = chunks_[index / chunk_size];
    chunk* c = entry.load(std::memory_order_relaxed);
    if (!c) {
      c = new chunk;
      entry.store(c, std::memory_order_release);
    }
    return c->lists[index % chunk_size];
  }

  std::atomic<const detail::handler_list*>& slot_for_existing(std::size_t index) {
    return chunks_[index / chunk_size].load(std::memory_order_relaxed)->lists[index % chunk_size];
  }

  // Called with the writer lock held, after the list became unreachable.
  void retire(const detail::handler_list* list, detail::handler_entry removed) noexcept {
    retire(list, &free_list, removed);
  }

  void retire(const detail::route_table* table, detail::handler_entry removed) noexcept {
    retire(table, &free_routes, removed);
  }

  static void free_list(const void* list) noexcept {
    delete static_cast<const detail::handler_list*>(list);
  }

  static void free_routes(const void* table) noexcept {
    const auto* routes = static_cast<const detail::route_table*>(table);
    routes->destroy(routes);
  }

  void retire(const void* object, void (*free)(const void*) noexcept,
              detail::handler_entry removed) noexcept {
    std::uint64_t tag = 0;
    if constexpr (thread_safe) tag = detail::epoch_domain::retire_tag();
    try {
      retired_.push_back({object, free, removed, tag});
    } catch (...) {
      return;  // out of memory: leak this list rather than free it under a reader
    }
    has_retired_.store(true, std::memory_order_relaxed);
    if constexpr (thread_safe) {
      collect();
    } else if (!detail::current_frame) {
      // Single-threaded: a write outside every handler cannot race a
      // publish; inside one, the lists wait for the outermost publish to end.
      collect();
    }
  }

  void try_collect() noexcept {
    std::unique_lock lock(writers_, std::try_to_lock);
    if (lock.owns_lock()) collect();
  }

  void collect() noexcept {
    std::uint64_t safe = 0;
    if constexpr (thread_safe) safe = detail::epoch_domain::safe_epoch();
    std::size_t kept = 0;
    for (auto& garbage : retired_) {
      if (garbage.tag <= safe) {
        free_retired(garbage);
      } else {
        retired_[kept++] = garbage;
      }
    }
    retired_.resize(kept);
    has_retired_.store(kept != 0, std::memory_order_relaxed);
  }

  static void free_retired(const retired_list& garbage) noexcept {
    if (garbage.removed.target) garbage.removed.destroy(garbage.removed.target);
    garbage.free(garbage.object);
  }

  bus_options options_;
  std::atomic<chunk*> chunks_[max_chunks]{};
  std::atomic<const detail::route_table*> routes_{nullptr};
  writer_mutex writers_;
  std::uint64_t last_id_ = 0;
  std::vector<retired_list> retired_;
  std::atomic<bool> has_retired_{false};
  std::shared_ptr<subscription_source> source_ = subscription_source::make();
  std::unique_ptr<detail::async_dispatcher> async_;
};

/// The thread-safe bus.
using bus = basic_bus<thread_safe_policy>;

/// The single-threaded bus: no synchronization at all.
using local_bus = basic_bus<single_thread_policy>;

}  // namespace herald
