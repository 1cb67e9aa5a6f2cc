package ingress

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// WebhookPath is where Storylane posts its webhooks.
const WebhookPath = "/webhooks/storylane"

func (s *Server) routes() http.Handler {
	// SkipClean: a path such as //webhooks/storylane gets a JSON 404, not a
	// redirect that a webhook sender would not follow with its body.
	// UseEncodedPath: routes match the path as sent, so /webhooks%2Fstorylane
	// is not the webhook path; a proxy or a rule in front that reads the path
	// as sent sees the same thing the bridge serves.
	r := mux.NewRouter().SkipClean(true).UseEncodedPath()
	r.Handle(WebhookPath, s.guard(s.handleWebhook())).Methods(http.MethodPost)
	r.Handle("/healthz", s.handleHealthz()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", s.handleReadyz()).Methods(http.MethodGet, http.MethodHead)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "no such endpoint")
	})
	r.MethodNotAllowedHandler = methodNotAllowed(r)
	return r
}

// startingRoutes answer while the process starts: GET /healthz 200 (other
// methods 405, as once open), so an
// orchestrator does not kill a process waiting for its broker, and
// everything else 503 with Retry-After, so none sends it webhooks yet.
func startingRoutes() http.Handler {
	r := mux.NewRouter().SkipClean(true).UseEncodedPath()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "starting"})
	}).Methods(http.MethodGet, http.MethodHead)
	r.MethodNotAllowedHandler = methodNotAllowed(r)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, r, http.StatusServiceUnavailable, "starting: waiting for the event store")
	})
	return r
}

// methodNotAllowed answers 405 with the methods r routes for the path.
func methodNotAllowed(r *mux.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", strings.Join(allowedMethods(r, req), ", "))
		writeError(w, req, http.StatusMethodNotAllowed, "method not allowed")
	})
}

// allowedMethods lists the methods routed for the request's path, for the
// Allow header of a 405.
func allowedMethods(r *mux.Router, req *http.Request) []string {
	var out []string
	_ = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if tpl, err := route.GetPathTemplate(); err == nil && tpl == req.URL.EscapedPath() {
			methods, _ := route.GetMethods()
			out = append(out, methods...)
		}
		return nil
	})
	return out
}
