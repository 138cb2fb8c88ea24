#include "tests/loadgen/synthetic_events.h"

#include <array>
#include <cstdio>

namespace custos::testing {
namespace {

constexpr std::array<const char*, 16> kUsers = {
    "alice", "bob",  "carol",   "dave", "erin",   "frank", "grace",  "heidi",
    "ivan",  "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil"};
constexpr std::array<const char*, 8> kDirs = {"Documents",      "Downloads",        "Desktop",
                                              "projects/atlas", "projects/zephyr",  "finance/2026",
                                              "hr/reviews",     ".cache/thumbnails"};
constexpr std::array<const char*, 12> kStems = {
    "customer-list", "q3-forecast", "roadmap",    "salaries", "contract", "notes",
    "design",        "invoice",     "board-deck", "export",   "backup",   "report"};
constexpr std::array<const char*, 9> kExts = {"xlsx", "docx", "pdf", "csv", "txt",
                                              "pptx", "zip",  "png", "md"};
struct Program {
  const char* exe;
  const char* cmd;
};
constexpr std::array<Program, 7> kPrograms = {{{"/usr/bin/cp", "cp -r"},
                                               {"/usr/bin/libreoffice", "libreoffice --calc"},
                                               {"/usr/bin/vim", "vim"},
                                               {"/usr/bin/python3", "python3 sync.py"},
                                               {"/usr/bin/rsync", "rsync -a"},
                                               {"/usr/bin/zip", "zip -r"},
                                               {"/usr/lib/firefox/firefox", "firefox"}}};

}  // namespace

SyntheticEvents::SyntheticEvents(uint32_t host_index, uint64_t seed)
    : rng_(seed * 1'000'003 + host_index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "ws-%04u", host_index);
  hostname_ = buf;
  user_ = kUsers[host_index % kUsers.size()];
  uid_ = 1000 + host_index % kUsers.size();
  pid_base_ = 2000 + static_cast<uint32_t>(rng_() % 30000);
}

std::string SyntheticEvents::RandomPath() {
  std::string p =
      "/home/" + user_ + "/" + kDirs[rng_() % kDirs.size()] + "/" + kStems[rng_() % kStems.size()];
  if (rng_() % 3 == 0) p += "-" + std::to_string(rng_() % 100);
  p += ".";
  p += kExts[rng_() % kExts.size()];
  return p;
}

void SyntheticEvents::Next(int64_t time_ns, custos::v1::Event* e) {
  e->Clear();
  e->set_time_ns(time_ns);
  uint64_t r = rng_() % 100;
  auto* actor = e->mutable_actor();
  const Program& prog = kPrograms[rng_() % kPrograms.size()];
  actor->set_pid(pid_base_ + static_cast<uint32_t>(rng_() % 8));
  actor->set_executable(prog.exe);
  actor->set_command_line(prog.cmd);
  actor->set_uid(uid_);
  actor->set_user_name(user_);
  actor->set_login_uid(uid_);
  actor->set_login_user(user_);
  if (r < 90) {
    auto* f = e->mutable_file();
    uint64_t op = rng_() % 10;
    f->set_op(op < 4   ? custos::v1::FILE_OP_MODIFY
              : op < 7 ? custos::v1::FILE_OP_CREATE
              : op < 8 ? custos::v1::FILE_OP_RENAME
              : op < 9 ? custos::v1::FILE_OP_DELETE
                       : custos::v1::FILE_OP_ATTRIB);
    f->set_path(RandomPath());
    if (f->op() == custos::v1::FILE_OP_RENAME) f->set_old_path(RandomPath());
    if (f->op() != custos::v1::FILE_OP_DELETE) f->set_size(rng_() % 5'000'000);
    if (rng_() % 20 == 0) f->add_classifications("confidential");
  } else if (r < 95) {
    auto* u = e->mutable_usb();
    u->set_action(rng_() % 2 ? custos::v1::USB_ACTION_ADDED : custos::v1::USB_ACTION_MOUNTED);
    u->set_vendor_id(0x0781);
    u->set_product_id(0x5581);
    u->set_serial("4C530001" + std::to_string(rng_() % 1000));
    u->set_manufacturer("SanDisk");
    u->set_product("Ultra");
    u->add_interface_classes(8);
    u->set_bus_path("1-2");
    u->set_fingerprint("usb-0781-5581-" + std::to_string(rng_() % 1000));
    if (u->action() == custos::v1::USB_ACTION_MOUNTED) {
      u->set_mount_point("/media/" + user_ + "/USB");
      u->set_fs_type("vfat");
    }
  } else {
    auto* s = e->mutable_setting();
    static constexpr std::array<const char*, 4> kAreas = {"sudoers", "sshd", "firewall", "account"};
    s->set_area(kAreas[rng_() % kAreas.size()]);
    s->set_key("/etc/sudoers.d/" + user_);
    s->set_old_value("sha256:" + std::to_string(rng_()));
    s->set_new_value("sha256:" + std::to_string(rng_()));
    s->set_observed_by(custos::v1::OBSERVED_BY_WATCH);
  }
}

}  // namespace custos::testing
