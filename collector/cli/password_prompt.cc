#include "collector/cli/password_prompt.h"

#include <termios.h>
#include <unistd.h>

#include <cerrno>

namespace custos::collector::cli {

Result<std::string> ReadHiddenLine(int fd, std::ostream& prompt_out, std::string_view prompt) {
  struct termios saved {};
  if (::tcgetattr(fd, &saved) != 0) {
    return FailedPreconditionError("standard input is not a terminal");
  }
  prompt_out << prompt;
  prompt_out.flush();
  struct termios hidden = saved;
  hidden.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  // Keep ECHONL off too: the newline is written below, once, to `prompt_out`.
  hidden.c_lflag &= ~static_cast<tcflag_t>(ECHONL);
  if (::tcsetattr(fd, TCSAFLUSH, &hidden) != 0)
    return ErrnoError("terminal: switch off echo", errno);
  std::string line;
  Status status = OkStatus();
  while (true) {
    char ch = 0;
    ssize_t n = ::read(fd, &ch, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoError("terminal: read", errno);
      break;
    }
    if (n == 0) {
      status = CancelledError("no password entered (end of input)");
      break;
    }
    if (ch == '\n') break;
    if (line.size() >= kMaxPasswordBytes) {
      status = ResourceExhaustedError("password longer than " + std::to_string(kMaxPasswordBytes) +
                                      " bytes");
      break;
    }
    line += ch;
  }
  ::tcsetattr(fd, TCSAFLUSH, &saved);
  prompt_out << '\n';
  prompt_out.flush();
  if (!status.ok()) return status;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace custos::collector::cli
