// SPDX-License-Identifier: MIT
#pragma once

namespace herald::detail {

// True on a thread while it runs a metrics registry's collectors: a scrape
// must answer with what it has, so a store's pool that has no free
// connection refuses at once (the gauge keeps its last value) instead of
// waiting for one.
inline thread_local bool collecting_metrics = false;

}  // namespace herald::detail
