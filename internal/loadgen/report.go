package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Table writes results as an aligned table.
func Table(w io.Writer, results []Result) {
	fmt.Fprintf(w, "%-34s %-6s %5s %7s %8s %6s %10s %8s %8s %8s %8s %9s %8s %9s\n",
		"target", "mode", "conc", "rate", "requests", "errors", "req/s", "p50 ms", "p99 ms", "p99.9", "max ms", "cpu µs/req", "peak MiB", "gen µs/req")
	for _, r := range results {
		rate, cpu, rss, gen := "-", "-", "-", "-"
		if r.Rate > 0 {
			rate = fmt.Sprintf("%.0f", r.Rate)
		}
		if r.CPUMicrosPer > 0 {
			cpu = fmt.Sprintf("%.0f", r.CPUMicrosPer)
		}
		if r.PeakRSSMiB > 0 {
			rss = fmt.Sprintf("%.1f", r.PeakRSSMiB)
		}
		if r.GeneratorCPUMicrosPer > 0 {
			gen = fmt.Sprintf("%.0f", r.GeneratorCPUMicrosPer)
		}
		fmt.Fprintf(w, "%-34s %-6s %5d %7s %8d %6d %10.0f %8.2f %8.2f %8.2f %8.1f %9s %8s %9s\n",
			trim(r.Target, 34), r.Mode, r.Concurrency, rate, r.Requests, r.Errors, r.Throughput,
			r.LatencyMs["p50"], r.LatencyMs["p99"], r.LatencyMs["p99.9"], r.LatencyMs["max"], cpu, rss, gen)
	}
	for _, r := range results {
		if r.Errors > 0 {
			failures(w, r)
		}
		if r.Missed > 0 {
			fmt.Fprintf(w, "%s: %d requests were due and never started: every client was busy (the target fell behind the rate)\n", r.Target, r.Missed)
		}
	}
}

// failures says which requests of r failed and why.
func failures(w io.Writer, r Result) {
	fmt.Fprintf(w, "%s: %d of %d requests failed (%.2f%%)\n", r.Target, r.Errors, r.Requests, 100*r.ErrorRate)
	statuses := slices.Sorted(maps.Keys(r.Status))
	answers := make([]string, len(statuses))
	for i, s := range statuses {
		answers[i] = fmt.Sprintf("%s %d", statusName(s), r.Status[s])
	}
	fmt.Fprintf(w, "  answers by status: %s\n", strings.Join(answers, ", "))
	fmt.Fprintf(w, "  failed, by reason:\n")
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  %10d  %-9s  %s\n", f.Count, statusName(f.Status), f.Reason)
	}
}

func statusName(status int) string {
	if status == 0 {
		return "no answer"
	}
	return strconv.Itoa(status)
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

// Ratio says how a result compares with a reference in throughput.
func Ratio(r, ref Result) string {
	if ref.Throughput == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", r.Throughput/ref.Throughput)
}
