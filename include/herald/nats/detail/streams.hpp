// SPDX-License-Identifier: MIT
#pragma once

// Which JetStream stream holds a subject, made or checked once per process.

#include <nats/nats.h>

#include <mutex>          // the cache of streams checked
#include <string>         // names
#include <string_view>    // subjects
#include <unordered_map>  // subject -> stream

#include "herald/error.hpp"
#include "herald/nats/detail/connection.hpp"
#include "herald/nats/detail/names.hpp"
#include "herald/nats/nats_options.hpp"

namespace herald::detail {

class nats_streams {
 public:
  nats_streams(const nats_options& options, jsCtx* js) : options_(options), js_(js) {
    check_nats_prefix(options_.stream_prefix);
  }

  // The stream that holds `filter` (a subject, or a filter with wildcards),
  // made on first use where herald names it. Safe from any thread.
  std::string holding(std::string_view filter) {
    {
      std::lock_guard lock(mutex_);
      if (auto it = known_.find(std::string(filter)); it != known_.end()) return it->second;
    }
    std::string name;
    std::string held;
    for (const auto& s : options_.streams) {
      for (const auto& subject : s.subjects) {
        if (name.empty() && nats_subject_covers(subject, filter)) {
          name = s.name;
          held = subject;
        }
      }
    }
    if (name.empty() && nats_subject_covers(options_.dead_letter_subject + ".>", filter)) {
      return dead_letters();  // reading dead letters
    }
    if (name.empty()) {
      if (filter.find_first_of("*>") != std::string_view::npos) {
        throw error(errc::invalid_argument,
                    "no stream holds the subjects of '" + std::string(filter) +
                        "'; herald makes a stream per topic, so a filter with wildcards needs one "
                        "that holds them all: add it to nats_options::streams, e.g. {\"home\", "
                        "{\"home.>\"}}");
      }
      name = nats_name(options_.stream_prefix, filter);
      check_nats_name_length("stream name", "subject", filter, name);
      held = std::string(filter);
    }
    ensure(name, held);
    std::lock_guard lock(mutex_);
    known_.emplace(std::string(filter), name);
    return name;
  }

  // The stream of dead letters, which holds `<dead_letter_subject>.>`.
  std::string dead_letters() {
    const std::string subject = options_.dead_letter_subject + ".>";
    {
      std::lock_guard lock(mutex_);
      if (auto it = known_.find(subject); it != known_.end()) return it->second;
    }
    std::string name = options_.stream_prefix + "-dead_letter";
    ensure(name, subject);
    std::lock_guard lock(mutex_);
    known_.emplace(subject, name);
    return name;
  }

 private:
  // The stream exists and holds `subject`, or is made to.
  void ensure(const std::string& name, const std::string& subject) {
    for (int attempt = 0;; ++attempt) {
      jsStreamInfo* info = nullptr;
      jsErrCode code{};
      natsStatus s = js_GetStreamInfo(&info, js_, name.c_str(), nullptr, &code);
      if (s == NATS_OK) {
        bool holds = false;
        for (int i = 0; i < info->Config->SubjectsLen; ++i) {
          holds = holds || nats_subject_covers(info->Config->Subjects[i], subject);
        }
        jsStreamInfo_Destroy(info);
        if (!holds) {
          throw error(errc::broker_refused,
                      "stream '" + name + "' exists but does not hold '" + subject +
                          "'; add the subject to it, or name another stream in nats_options");
        }
        return;
      }
      if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
        throw_nats(s, code, "cannot read stream '" + name + "'");
      }
      if (!options_.create_streams) {
        throw error(errc::broker_refused,
                    "stream '" + name + "' for '" + subject +
                        "' does not exist and nats_options::create_streams is false; create it, "
                        "or let herald create it");
      }
      s = add(name, subject, code);
      if (s == NATS_OK) return;
      // Another process made it between the two calls: read it again, once.
      if (code != JSStreamNameExistErr || attempt > 0) {
        throw_nats(s, code, "cannot create stream '" + name + "' for '" + subject + "'");
      }
    }
  }

  natsStatus add(const std::string& name, const std::string& subject, jsErrCode& code) {
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = name.c_str();
    const char* subjects[] = {subject.c_str()};
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Retention = options_.retention == nats_retention::interest     ? js_InterestPolicy
                       : options_.retention == nats_retention::work_queue ? js_WorkQueuePolicy
                                                                          : js_LimitsPolicy;
    config.MaxAge = nats_ns(options_.max_age);
    config.Replicas = options_.replicas;
    config.Duplicates = nats_ns(options_.duplicate_window);
    config.Storage = js_FileStorage;
    jsStreamInfo* info = nullptr;
    const natsStatus s = js_AddStream(&info, js_, &config, nullptr, &code);
    if (info) jsStreamInfo_Destroy(info);
    return s;
  }

  const nats_options& options_;
  jsCtx* js_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> known_;
};

}  // namespace herald::detail
