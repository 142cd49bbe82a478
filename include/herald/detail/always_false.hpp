// SPDX-License-Identifier: MIT
#pragma once

namespace herald::detail {

// For a static_assert that must fire only when its branch is instantiated.
template <class>
inline constexpr bool always_false = false;

}  // namespace herald::detail
