// Where `custos-agent enroll` takes its one-time enrollment token from. A token on the command
// line (--token) is visible to every user in the process list and stays in shell history, so
// the documented forms read it from a file (--token-file PATH) or from standard input
// (--token-file -).
#pragma once

#include <optional>
#include <string>

#include "common/status/status.h"

namespace custos::agent {

// Reads the token from `path`, or from `stdin_fd` when path is "-". Takes the first line without
// its line ending ("\n" or "\r\n") and without surrounding blanks, so `echo TOKEN >file` and
// `custos-collector token create >file` both work. Errors name the file ("standard input" for
// "-"): the file's own error when it cannot be read (NotFound, PermissionDenied...),
// InvalidArgument when it is larger than 64 KiB, empty (or only blank) or when the token holds a
// space or a control character.
Result<std::string> ReadEnrollmentTokenFile(const std::string& path, int stdin_fd);

// The token of `custos-agent enroll`: exactly one of `token_flag` (--token) and `token_file`
// (--token-file) must be given; InvalidArgument naming the flags otherwise.
Result<std::string> EnrollmentToken(const std::optional<std::string>& token_flag,
                                    const std::optional<std::string>& token_file, int stdin_fd);

}  // namespace custos::agent
