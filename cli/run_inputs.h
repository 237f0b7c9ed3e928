// The build flags that shape every RUN, as buildx reads them: --add-host,
// --ulimit, --shm-size, --ssh, --no-cache-filter. The parsers are pure
// (tests/cli/run_inputs_test.cc); apply_run_inputs() puts the flags' values
// into the conversion's and the solver's options.
#pragma once

#include <string>

#include "cli/args.h"
#include "convert/convert.h"
#include "executor/executor.h"
#include "solver/solver.h"

namespace xb::cli {

// What host-gateway stands for: the RUN shares the host's network (or has
// none), so the host is its loopback address; buildx asks the Docker
// daemon (its bridge's gateway, 172.17.0.1), which xbuild has none of.
inline constexpr const char* kHostGatewayIp = "127.0.0.1";

// --add-host HOST:IP (or HOST=IP, buildx 0.13): IP an IPv4 or IPv6 address
// (brackets allowed), written as Go writes it, or host-gateway. Throws
// Error(usage) naming the flag's value.
executor::ExtraHost parse_add_host(const std::string& text);

// --ulimit NAME=SOFT[:HARD] (go-units' ParseUlimit): HARD defaults to SOFT,
// -1 is unlimited, SOFT ≤ HARD. Throws Error(usage).
executor::Ulimit parse_ulimit(const std::string& text);

// --ssh default | ID | ID=SOCKET | ID=KEY[,KEY…] (buildx's, BuildKit's
// sshprovider): no path takes $SSH_AUTH_SOCK (`ssh_auth_sock`, empty when
// unset: an error); one socket is forwarded; otherwise every path must be a
// key file. Throws Error(usage) naming what is wrong.
solver::SshSource parse_ssh(const std::string& text, const std::string& ssh_auth_sock);

// The flags above (and --shm-size) from a, into conv and opts.
void apply_run_inputs(const ParsedArgs& a, convert::DispatchOptions& conv, solver::BuildOptions& opts);

}  // namespace xb::cli
