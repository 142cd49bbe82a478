// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>       // routes are read while others publish
#include <cstddef>      // type indexes
#include <cstdint>      // handler ids
#include <exception>    // std::current_exception
#include <memory>       // lifetime token, async dispatcher
#include <string>       // a failure's text
#include <string_view>  // event type names
#include <type_traits>  // handler signature checks
#include <utility>      // std::move

#include "herald/bus/detail/async_dispatcher.hpp"
#include "herald/bus/detail/handler_box.hpp"
#include "herald/bus/detail/handler_table.hpp"
#include "herald/bus/detail/route_table.hpp"
#include "herald/bus/executor.hpp"
#include "herald/bus/options.hpp"
#include "herald/bus/policy.hpp"
#include "herald/detail/dispatch_frame.hpp"
#include "herald/detail/epoch.hpp"
#include "herald/detail/handler_traits.hpp"
#include "herald/detail/type_index.hpp"
#include "herald/error.hpp"
#include "herald/event.hpp"
#include "herald/message.hpp"
#include "herald/runtime/failure.hpp"
#include "herald/subscription.hpp"

namespace herald {

namespace detail {
struct nothing {};  // a member a policy does not need
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
          options_.max_concurrency, options_.failures);
    }
  }

  basic_bus(const basic_bus&) = delete;
  basic_bus& operator=(const basic_bus&) = delete;

  /// Delivers what publish_async queued, then frees every handler.
  ~basic_bus() {
    async_.reset();
    source_->close();  // an unsubscribe racing this destructor finishes first
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
  /// CloudEvent JSON form (include herald/routing/typed_pattern.hpp).
  template <class T, class Filter, class Handler>
  [[nodiscard]] subscription subscribe(Filter&& filter, Handler&& handler) {
    using predicate = typename detail::filter_adapter<T, std::decay_t<Filter>>::type;
    if constexpr (!std::is_same_v<predicate, std::decay_t<Filter>>) {
      // An event pattern: routing names the predicate that matches it.
      return subscribe<T>(predicate{std::forward<Filter>(filter)}, std::forward<Handler>(handler));
    } else if constexpr (requires { typename std::decay_t<Filter>::herald_pattern_tag; }) {
      static_assert(detail::always_false<Filter>,
                    "herald: filtering a subscription by an event pattern needs its header: "
                    "#include <herald/routing/typed_pattern.hpp>");
      return {};
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
    if constexpr (!requires { sizeof(builder); }) {
      static_assert(detail::always_false<Pattern>,
                    "herald: bus.route needs its header: #include <herald/routing/route.hpp>");
      return {};
    } else {
      const std::uint64_t id =
          table_.add_route([&](const detail::route_table* old, std::uint64_t n) {
            return builder::with(old, n, std::forward<Pattern>(pattern),
                                 std::forward<Handler>(handler));
          });
      return subscription(source_, &unroute_thunk, this, 0, id);
    }
  }

  /// Calls the current handlers of T. The message's attributes are made only
  /// if a handler, a nested publish or the error handler needs them.
  // Always inlined: for one handler the call itself (saved registers, a
  // stack frame sized for a lazily made message) cost more than the epoch.
  template <class T>
  requires(!detail::is_message<T>::value)
      [[gnu::always_inline]] inline void publish(const T& event) {
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
    const auto* list = table_.find(detail::type_index<T>());
    return list ? list->entries.size() : 0;
  }

  /// Replaces the error handler. Not to be called while publishes run.
  void on_error(error_handler handler) { options_.on_error = std::move(handler); }

 private:
  // Keeps the handler lists a publish reads alive until it ends.
  class read_scope {
   public:
    explicit read_scope(const basic_bus& bus) : bus_(const_cast<basic_bus&>(bus)) {
      if constexpr (thread_safe) slot_ = detail::epoch_domain::enter();
    }
    ~read_scope() {
      if constexpr (thread_safe) {
        if (!slot_) return;  // nested: the outermost publish leaves
        detail::epoch_domain::leave(*slot_);
        // A list retired while this publish read it is freed now, not at
        // some later subscribe: its handlers' state should not linger.
        if (bus_.table_.has_retired()) [[unlikely]]
          bus_.table_.try_collect();
      } else if (bus_.table_.has_retired() && !detail::current_frame) [[unlikely]] {
        bus_.table_.collect();  // the outermost publish on this thread has ended
      }
    }
    read_scope(const read_scope&) = delete;
    read_scope& operator=(const read_scope&) = delete;

   private:
    basic_bus& bus_;
    [[no_unique_address]] std::conditional_t<thread_safe, detail::epoch_domain::reader_slot*,
                                             detail::nothing>
        slot_{};
  };

  // The frame is built only once there is someone to deliver to.
  // Inlined into each publish: a call here costs a fifth of a one-handler dispatch.
  template <class T>
  [[gnu::always_inline]] inline void dispatch(const T* payload, const message<T>* m) {
    read_scope scope(*this);
    const auto* list = table_.find(detail::known_type_index<T>());
    if (!list) [[unlikely]] {
      route_only(payload, m);
      return;
    }
    detail::bus_frame<T> frame(payload, m, options_);
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
    if (const auto* routes = table_.routes()) [[unlikely]] {
      run_routes(*routes, frame, detail::type_index<T>(), payload, detail::data_encoder_of<T>());
    }
  }

  // No handler of T (or T not numbered yet): only routes may want it.
  template <class T>
  [[gnu::noinline]] void route_only(const T* payload, const message<T>* m) {
    if (const auto* routes = table_.routes()) {
      detail::bus_frame<T> frame(payload, m, options_);
      if (frame.parent) detail::check_nested_publish(frame.parent, event_type_v<T>);
      run_routes(*routes, frame, detail::type_index<T>(), payload, detail::data_encoder_of<T>());
    } else {
      detail::check_publish_depth(event_type_v<T>);
    }
  }

  [[gnu::noinline]] void run_routes(const detail::route_table& routes,
                                    detail::dispatch_frame& frame, std::size_t index,
                                    const void* payload, detail::data_encoder encode) {
    detail::route_call call{frame, index, payload, encode, this, &report_thunk};
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
    const std::string text = failure.what();
    detail::report_failure(options_.failures,
                           {failure_kind::handler_threw, "bus", type,
                            detail::code_of(failure.error), m.id, 0, text, std::nullopt});
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

  template <class T, class Handler, class Filter>
  subscription add(Handler&& handler, Filter&& filter) {
    using box = detail::handler_box<T, std::decay_t<Handler>, std::decay_t<Filter>>;
    const std::size_t index = detail::checked_type_index<T>();
    auto target =
        std::make_unique<box>(box{std::forward<Handler>(handler), std::forward<Filter>(filter)});
    const std::uint64_t id = table_.add(index, {0, target.get(), &box::invoke, &box::destroy});
    target.release();  // the table owns it now
    return subscription(source_, &unsubscribe_thunk, this, index, id);
  }

  static void unsubscribe_thunk(void* self, std::size_t index, std::uint64_t id) noexcept {
    static_cast<basic_bus*>(self)->table_.remove(index, id);
  }

  static void unroute_thunk(void* self, std::size_t, std::uint64_t id) noexcept {
    static_cast<basic_bus*>(self)->table_.remove_route(id);
  }

  bus_options options_;
  detail::handler_table table_{thread_safe};
  std::shared_ptr<subscription_source> source_ = subscription_source::make();
  std::unique_ptr<detail::async_dispatcher> async_;
};

/// The thread-safe bus.
using bus = basic_bus<thread_safe_policy>;

/// The single-threaded bus: no synchronization at all.
using local_bus = basic_bus<single_thread_policy>;

}  // namespace herald
