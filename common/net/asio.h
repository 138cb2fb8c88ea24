// The only way to include Boost.Asio in Custos. Boost 1.74's awaitable.hpp uses std::exchange
// without including <utility>, which breaks C++20 builds with GCC 12; include it first.
// Include this only from .cc files: Asio is heavy to compile (see DESIGN.md toolchain notes).
#pragma once

#include <string>
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

namespace custos::net {

// Opens `acceptor` on `endpoint` with SO_REUSEADDR, binds and listens (the steps every Custos
// listener takes). On failure `ec` is set; the caller turns it into its own Status.
inline void OpenListener(boost::asio::ip::tcp::acceptor& acceptor,
                         const boost::asio::ip::tcp::endpoint& endpoint,
                         boost::system::error_code& ec) {
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
}

// The key per-address limits count a peer under: its IP address, an IPv4-mapped IPv6 address as
// the IPv4 one (a dual-stack listener sees IPv4 clients that way), "-" when unknown.
inline std::string PeerAddressKey(const boost::asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) return "-";
  boost::asio::ip::address address = remote.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
  }
  return address.to_string();
}

}  // namespace custos::net
