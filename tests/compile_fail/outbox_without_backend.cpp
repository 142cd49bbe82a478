// SPDX-License-Identifier: MIT
// An outbox on a store whose outbox tables' header was not included.
#include <herald/outbox/outbox.hpp>
#include <herald/store/memory_store.hpp>

void misuse(herald::memory_store& store) { herald::outbox<herald::memory_store> box(store); }
