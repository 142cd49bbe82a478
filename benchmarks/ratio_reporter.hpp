// SPDX-License-Identifier: MIT
#pragma once

// Prints the usual table, then each target as a ratio within the run: the
// only figures that compare across machines.

#include <benchmark/benchmark.h>
#include <fmt/core.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace herald_bench {

/// {herald benchmark, baseline benchmark, target}: herald's time per item at
/// most `target` times the baseline's.
using target = std::tuple<std::string, std::string, double>;

class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  explicit ratio_reporter(std::vector<target> targets)
      : ConsoleReporter(OO_None), targets_(std::move(targets)) {}

  void ReportRuns(const std::vector<Run>& given) override {
    // The names the issues give: without "/real_time", which multi-threaded
    // benchmarks measure in.
    std::vector<Run> runs = given;
    for (auto& run : runs) run.run_name.time_type.clear();
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      if (run.error_occurred) continue;
      auto rate = run.counters.find("items_per_second");
      if (rate == run.counters.end()) continue;
      // With --benchmark_repetitions the median is the figure; else the one run.
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median") {
        medians_[run.run_name.str()] = rate->second;
      } else if (run.run_type == Run::RT_Iteration) {
        singles_[run.run_name.str()] = rate->second;
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    fmt::print("\nratios (time per item, herald / baseline; lower is better{})\n",
               medians_.empty() ? "" : "; medians of the repetitions");
    for (const auto& [ours, theirs, limit] : targets_) {
      double a = rate_of(ours), b = rate_of(theirs);
      if (a <= 0 || b <= 0) continue;
      double ratio = b / a;  // time ratio = inverse rate ratio
      fmt::print("  {:<32} / {:<34} = {:6.3f}  (target <= {:.3f})  {}\n", ours, theirs, ratio,
                 limit, ratio <= limit ? "met" : "MISSED");
    }
  }

 private:
  double rate_of(const std::string& name) const {
    if (auto m = medians_.find(name); m != medians_.end()) return m->second;
    if (auto s = singles_.find(name); s != singles_.end()) return s->second;
    return 0;
  }

  std::vector<target> targets_;
  std::map<std::string, double> medians_, singles_;
};

/// main() for a benchmark executable that reports `targets` as ratios.
inline int run(int argc, char** argv, std::vector<target> targets) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ratio_reporter reporter(std::move(targets));
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

}  // namespace herald_bench
