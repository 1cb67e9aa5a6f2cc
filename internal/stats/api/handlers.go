package api

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/storylane-bridge/storylane-bridge/internal/stats"
)

// query is one route's answer: the value for JSON, and the rows for CSV
// (a header, then the data).
type query func(agg *stats.Aggregates, q stats.Query) (any, [][]string)

func table(agg *stats.Aggregates, run query) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := parseQuery(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		v, rows := run(agg, q)
		switch r.URL.Query().Get("format") {
		case "", "json":
			writeJSON(w, http.StatusOK, v)
		case "csv":
			writeCSV(w, rows)
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "format: want json or csv"})
		}
	})
}

func parseQuery(r *http.Request) (stats.Query, error) {
	v := r.URL.Query()
	var q stats.Query
	var err error
	if s := v.Get("from"); s != "" {
		if q.From, err = stats.ParseDay(s); err != nil {
			return q, fmt.Errorf("from: %w", err)
		}
	}
	if s := v.Get("to"); s != "" {
		if q.To, err = stats.ParseDay(s); err != nil {
			return q, fmt.Errorf("to: %w", err)
		}
	}
	if q.To != 0 && q.To < q.From {
		return q, fmt.Errorf("to is before from")
	}
	q.Demo = v.Get("demo")
	return q, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeCSV(w http.ResponseWriter, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	cw := csv.NewWriter(w)
	for _, row := range rows {
		for i, cell := range row {
			row[i] = defuse(cell)
		}
		cw.Write(row)
	}
	cw.Flush()
}

// defuse keeps a spreadsheet from running a cell as a formula: company
// names and campaigns come from forms and links anyone can fill in.
func defuse(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		if _, err := strconv.ParseFloat(cell, 64); err != nil {
			return "'" + cell
		}
	}
	return cell
}
