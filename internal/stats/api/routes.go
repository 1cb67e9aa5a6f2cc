// Package api serves session-stats' figures: a dashboard page at / for
// people, JSON for the page and anyone's scripts, CSV (?format=csv) for
// spreadsheets. Every route is in Routes.
package api

import (
	"net/http"

	"github.com/storylane-bridge/storylane-bridge/internal/stats"
)

// Routes returns the handler of every route of the API over agg.
func Routes(agg *stats.Aggregates) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", dashboard(agg))
	mux.Handle("GET /assets/dashboard.css", asset("dashboard.css", "text/css; charset=utf-8"))
	mux.Handle("GET /assets/dashboard.js", asset("dashboard.js", "text/javascript; charset=utf-8"))
	mux.Handle("GET /assets/icon.png", asset("icon.png", "image/png"))
	mux.Handle("GET /api/overview", table(agg, overview))
	mux.Handle("GET /api/demos", table(agg, demos))
	mux.Handle("GET /api/campaigns", table(agg, campaigns))
	mux.Handle("GET /api/companies", table(agg, companies))
	return mux
}
