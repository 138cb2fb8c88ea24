// The only way to include Boost.Asio in Custos. Boost 1.74's awaitable.hpp uses std::exchange
// without including <utility>, which breaks C++20 builds with GCC 12; include it first.
// Include this only from .cc files: Asio is heavy to compile (see DESIGN.md toolchain notes).
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
