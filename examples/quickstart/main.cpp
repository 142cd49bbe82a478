// SPDX-License-Identifier: MIT
// The README's quick start, built and run in CI so that it stays true.
#include <fmt/core.h>

#include <herald/bus/bus.hpp>
#include <string>

struct user_signed_up {
  static constexpr std::string_view event_type = "accounts.user.signed_up";
  std::string email;
};

struct welcome_mail_sent {
  static constexpr std::string_view event_type = "mail.welcome.sent";
  std::string to;
};

int main() {
  herald::bus bus;  // thread-safe; herald::local_bus is the single-threaded one

  // A handler takes the event, or herald::message<T> to see its attributes.
  auto mailer = bus.subscribe<user_signed_up>([&](const user_signed_up& e) {
    bus.publish(welcome_mail_sent{e.email});  // carries correlation and causation
  });
  auto audit = bus.subscribe<welcome_mail_sent>([](const herald::message<welcome_mail_sent>& m) {
    fmt::print("welcome mail to {} (caused by message {})\n", m.data.to, m.causationid);
  });

  bus.publish(user_signed_up{"ada@example.com"});
  // Leaving scope destroys the subscriptions: handlers are removed (RAII).
}
