package hub

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteText writes r as a table, one edge a line in name order, then the
// stream's problems and each unhealthy edge's.
func WriteText(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "EDGE\tDECLARED\tACTIVE\tSILENT\tLAG\tANSWERS\tSTATUS\n")
	for _, e := range r.Edges {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Edge, yesNo(e.Declared), yesNo(e.Active), silent(e.Silent), e.Lag,
			yesNo(e.Answers), map[bool]string{true: "ok", false: "UNHEALTHY"}[e.Healthy])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	window := "none"
	if r.Exists {
		window = r.DuplicateWindow.String()
	}
	fmt.Fprintf(w, "stream %s: duplicate window %s\n", r.Stream, window)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "stream %s: %s\n", r.Stream, p)
	}
	for _, e := range r.Edges {
		if e.Problem != "" {
			fmt.Fprintf(w, "edge %s: %s\n", e.Edge, e.Problem)
		}
	}
	_, err := fmt.Fprintf(w, "%s\n", map[bool]string{true: "healthy", false: "NOT HEALTHY"}[r.Healthy])
	return err
}

// WriteJSON writes r as one JSON document.
func WriteJSON(w io.Writer, r Report) error {
	if r.Edges == nil {
		r.Edges = []EdgeStatus{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func silent(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(100 * time.Millisecond).String()
}
