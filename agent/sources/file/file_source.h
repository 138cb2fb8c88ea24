// agent/sources/file/file_source.h: file activity under configured roots (front door).
//
// What it reports (custos.v1.Event with a FileEvent payload, via the EventSink):
//   CREATE, MODIFY (coalesced to close-after-write), DELETE, RENAME (path = new, old_path = old),
//   ATTRIB (chmod, chown, utimes), READ (only with report_reads), each with size (regular files),
//   is_dir, mode (permission bits, st_mode & 07777), classifications (labels of the rules that
//   match; for a rename, of either name) and, for MODIFY of files <= hash_max_bytes, the SHA-256 of
//   the content. Plus EventsLost (kernel queue or source ring overflow; count 0 = unknown) followed
//   by a rescan of the roots, and AgentHealth events (component "source.file") when a limit is hit.
//
// Paths are raw bytes on Linux but proto3 strings must be valid UTF-8: every path is escaped with
// pipeline::EscapeToUtf8 — a byte that is not part of well-formed UTF-8 becomes "\xNN" (lower-case
// hex) and a literal backslash becomes "\\"; everything else (including newlines) is kept.
//
// Actors: fanotify reports the pid, so events carry pid, executable, command line, uid, login
// user (pipeline::ProcessAttributor). inotify has no pid: its actor is empty with partial=true.
// Changes found by comparing with a snapshot (at startup: what changed while the agent was down;
// after an overflow: what was missed) are scan findings: FileEvent.observed_by SCAN, no actor at
// all (nobody is known to have made them) and time_ns = when they were found. Everything else
// is observed_by WATCH.
//
// Mechanisms (Health().mechanism and a log line say which one runs):
//   "fanotify": FAN_MARK_FILESYSTEM on each root's filesystem, FAN_REPORT_DFID_NAME (Linux 5.9+,
//               CAP_SYS_ADMIN). See linux/fanotify_file_source.h.
//   "inotify":  recursive watches under an explicit budget (degraded health beyond it). See
//               linux/inotify_file_source.h.
//
// Snapshot: path -> (size, mtime, inode, mode) of everything under the roots (minus excludes) is
// kept in memory and persisted in state_dir as a checkpoint plus a journal of changes
// (snapshot_store.h). A change is journaled only once the sink reports its event written to its
// log (EventSink::DurabilityMark, DurabilityListener: the spool writer tells right after each
// append, with the spool position), so the persisted view never runs ahead of the spool: after
// kill -9 the next start reports exactly the changes whose events had not reached the spool (or
// were made while the agent was down), never one that had (but for the microseconds between the
// spool's write and the journal's). After power loss, journal records whose spool records were
// lost (EventSink::RecoveredPosition) or that were themselves lost are left out: those changes
// are reported again, as scan findings. A checkpoint (fsynced) is written only once the spool
// has synced every journaled change's event (DurabilityListener::OnSynced), else deferred.
// Checkpoints:
// at start, every snapshot_persist_interval with a non-empty journal, past 4 MiB of journal, and
// on Stop (after waiting up to 5 s for the last events to become durable). Memory: about 190 bytes
// per tracked file for a 60-byte path (std::map node, key, state); snapshot_max_entries caps it
// (beyond it files are not tracked and Health() says so). A rescan briefly holds two snapshots.
//
// Lifetimes: the attributor and clock must outlive the source; the sink passed to Start must
// outlive Stop. Start/Stop/Health may be called from any thread; Stop is idempotent and joins.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/pipeline/attribution.h"
#include "agent/sources/source.h"
#include "common/status/status.h"
#include "common/time/clock.h"

namespace custos::agent::file {

// A label for files whose path matches `glob` or whose name ends with `extension`.
struct ClassificationRule {
  std::string glob;       // fnmatch(3); without '/' matched against the file name, else the path
  std::string extension;  // "docx" or ".docx", case-insensitive; used when glob is empty
  std::string label;      // e.g. "source-code", "finance"
};

struct FileSourceOptions {
  // Directories to watch (made canonical with realpath at creation; each must exist). A root
  // does not extend into other filesystems mounted below it.
  std::vector<std::string> roots;
  // Globs (fnmatch(3), '*' also matches '/'): a glob without '/' is matched against the name of
  // the file and, for excludes, of every directory between the root and the file; a glob with '/'
  // is matched against the full path (and, for excludes, every parent directory's path).
  // Excluded directories are not watched or scanned. An empty include list includes everything.
  std::vector<std::string> include_globs;
  std::vector<std::string> exclude_globs;
  uint64_t hash_max_bytes = 0;  // 0 = no hashing
  // Hashing budget; a file that does not fit the budget is reported unhashed and counted.
  // 0 = unlimited.
  uint64_t hash_rate_bytes_per_s = 32ull << 20;
  std::vector<ClassificationRule> classification_rules;
  // Where the snapshot is persisted ("file-snapshot.v1"); empty = no persistence (nothing is
  // reported for changes made while the agent was down). Always excluded from the roots.
  std::string state_dir;
  std::chrono::seconds snapshot_persist_interval{300};
  size_t snapshot_max_entries = 100'000;
  uint32_t inotify_watch_budget = 65536;
  bool force_inotify = false;
  // FILE_OP_READ events (fanotify only; inotify has no pid, so none): a regular file under the
  // roots that passes the filters was closed after a read-only open (FAN_CLOSE_NOWRITE), with
  // actor, size and classifications. Meant for pipeline::CopyCorrelator (copy-to-removable),
  // which keeps them out of the spool by default. Reads are queued only while the ring between
  // the kernel reader and the worker is at most half full; beyond that they are dropped and
  // counted (Health: reads_dropped), never reported as EventsLost and never cause a rescan.
  // Reads by the agent itself (scans, hashing) are ignored. Not in the snapshot.
  bool report_reads = false;
};

// Creates the file source. Unless force_inotify, probes fanotify (fanotify_init with
// FAN_REPORT_DFID_NAME and a FAN_MARK_FILESYSTEM mark on every root) and returns a
// FanotifyFileSource. When that fails — EPERM without CAP_SYS_ADMIN (from fanotify_init, or from
// the mark on 5.13+ where unprivileged fanotify_init succeeds), EINVAL/ENOSYS on kernels before
// 5.9, a filesystem without file handles — it returns an InotifyFileSource whose Health() is
// DEGRADED and says why (no process attribution). A log line names the mechanism (a warning on
// fallback).
// Errors: InvalidArgument for no roots, a root that does not exist or is not a directory, or a
// bad glob/rule. `attributor` may be null (actors then carry only the pid); `clock` null means
// RealClock().
Result<std::unique_ptr<Source>> CreateFileSource(const FileSourceOptions& options,
                                                 pipeline::ProcessAttributor* attributor,
                                                 Clock* clock);

}  // namespace custos::agent::file
