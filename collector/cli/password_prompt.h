// collector/cli: asking for a password on a terminal without showing it, for `custos user add`
// and `custos user password` when no --password-file is given. Passwords are never taken from the
// command line (other users see it in ps, it lands in shell history).
//
// Contract: the terminal's echo is switched off only while the line is read and restored before
// returning, whatever happened (a signal that ends the process in between leaves it off, as with
// getpass(3); `stty sane` repairs it). Single-threaded; nothing is printed but `prompt` and the
// newline the hidden input did not show.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

#include "common/status/status.h"

namespace custos::collector::cli {

// Longest password line read from a terminal or a file (the API takes at most 1024 bytes).
inline constexpr size_t kMaxPasswordBytes = 4096;

// Writes `prompt` to `prompt_out`, reads one line from the terminal `fd` with echo off, then
// writes "\n". The line without its line end; FailedPrecondition when `fd` is not a terminal,
// Cancelled on end of input (Ctrl-D) before a line end, ResourceExhausted beyond kMaxPasswordBytes,
// the errno of a failed read otherwise.
Result<std::string> ReadHiddenLine(int fd, std::ostream& prompt_out, std::string_view prompt);

}  // namespace custos::collector::cli
