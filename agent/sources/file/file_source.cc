#include "agent/sources/file/file_source.h"

#include "agent/sources/file/linux/fanotify_file_source.h"
#include "agent/sources/file/linux/inotify_file_source.h"
#include "agent/sources/file/path_filter.h"
#include "common/log/log.h"

namespace custos::agent::file {

Result<std::unique_ptr<Source>> CreateFileSource(const FileSourceOptions& options,
                                                 pipeline::ProcessAttributor* attributor,
                                                 Clock* clock) {
  // Bad configuration is an error whichever mechanism would run.
  CUSTOS_RETURN_IF_ERROR(PathFilter::Create(options).status());
  std::string fallback_reason;
  if (!options.force_inotify) {
    const Status probe = FanotifyFileSource::Probe(options);
    if (probe.ok()) {
      CUSTOS_ASSIGN_OR_RETURN(auto source, FanotifyFileSource::Create(options, attributor, clock));
      logging::Info("file: source uses fanotify");
      return std::unique_ptr<Source>(std::move(source));
    }
    fallback_reason = probe.message();
    logging::Warn("file: fanotify unavailable, falling back to inotify (no process attribution)",
                  {{"reason", fallback_reason}});
  }
  CUSTOS_ASSIGN_OR_RETURN(
      auto source,
      InotifyFileSource::Create(options, clock, InotifyFileSource::Tuning{}, fallback_reason));
  logging::Info("file: source uses inotify",
                {{"forced", options.force_inotify}, {"budget", options.inotify_watch_budget}});
  return std::unique_ptr<Source>(std::move(source));
}

}  // namespace custos::agent::file
